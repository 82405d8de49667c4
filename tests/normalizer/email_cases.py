"""Expected parse results for interesting corpus e-mails (data only; see test_email_corpus.py).

Each expectation was written after reading the file. ``quoted`` snippets must be absent from
``inquiry.text`` but present in ``metadata["original_text"]`` (proving the quote was stripped,
not lost); ``text`` snippets must be present in ``inquiry.text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# tests/normalizer/email_cases.py -> parents[2] is the repository root.
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
EMAIL_DIR = CORPUS / "email"
SKIP_REASON = "../shared/corpus not found (CI always has it beside the clone)"

UNSET = object()


@dataclass(frozen=True)
class Case:
    path: str
    text: tuple[str, ...] = ()
    quoted: tuple[str, ...] = ()
    subject: str | None = None
    charset: str | None = None
    automatic: object = UNSET  # a kind, None (= human mail) or UNSET (not checked)
    attachments: tuple[str, ...] | None = None
    attachment_types: tuple[str, ...] | None = None
    sender: str | None = None
    from_name: str | None = None
    conversation_key: str | None = None
    html_only: bool | None = None
    dsn_original_id: object = UNSET
    dsn_status: str | None = None
    dsn_permanent: bool | None = None
    dsn_recipient: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


CASES: tuple[Case, ...] = (
    # --- Chinese clients on public mailing lists: charsets and quote separators -----------
    Case(
        "cjk_mailing_lists/outlook16_gb2312_traditional_separator_broken_char.eml",
        text=("Great! Thank you, Taylor.",),
        quoted=("-----原始郵件-----", "Your CCLA has been accepted"),
        subject="Byosoft OpenBMC CLA application",
        charset="gb18030",
        automatic="mailing_list",
    ),
    Case(
        "cjk_mailing_lists/outlook_big5_huifu_separator_line.eml",
        text=("Understood. Thanks for your explanation.",),
        quoted=("寄件者: Lei YU", "It depends on the config of ipmid"),
        charset="big5hkscs",
        sender="chris.chen3@flex.com",
        from_name="Chris Chen (TPI)",
    ),
    Case(
        "cjk_mailing_lists/outlook_big5_daibiao_on_behalf.eml",
        text=("Thanks for your sharing and explanation.",),
        quoted=("代表",),
        subject="[phosphor-host-ipmid] Question about IPMI SDR",
        charset="big5hkscs",
    ),
    Case(
        "cjk_mailing_lists/outlookcom_gb2312_huifu.eml",
        text=("I modified the RAM space to 13G",),
        quoted=("发送时间: 2020年10月13日 17:21",),
        charset="gb18030",
    ),
    Case(
        "cjk_mailing_lists/zimbra_gb2312_8bit_yuanshi_youjian.eml",
        text=("I will change %p to %px and submit a new patch.",),
        quoted=("----- 原始邮件 -----",),
        charset="gb18030",
        from_name="郭志",
    ),
    Case(
        "cjk_mailing_lists/thunderbird_gbk_flowed_xiedao.eml",
        text=("Please ignore this patch.",),
        quoted=("写道:",),
        charset="gb18030",
    ),
    Case(
        "cjk_mailing_lists/coremail_163_gbk_re_re.eml",
        text=("Thanks Zhu, I will add your Reviewed-by tag.",),
        quoted=("wrote:", "写道:", "I am fine with removing this."),
        subject="[PATCH] RDMA/rxe: Reject unimplemented implicit ODP cleanly",
        charset="gb18030",
    ),
    Case(
        "cjk_mailing_lists/coremail_gbk_foxmail_fullwidth_quote.eml",
        text=("Any advice will be appreciated.",),
        quoted=("发件人：不语", "Is it AST2500-EVB?"),
        from_name="不语",
    ),
    Case(
        "cjk_mailing_lists/coremail_ustc_utf8_yuanshi_youjian_nested.eml",
        text=("I'm trying to understand here.",),
        quoted=("-----原始邮件-----",),
        charset="utf-8",
    ),
    Case(
        "cjk_mailing_lists/mojibake_subject_huifu_fullwidth_headers.eml",
        text=("Hi, YanLong", "Yanjun.Zhu"),
        quoted=("Gentle ping on this patch.", "主 题：*Re: [PATCH v2 rdma-rc]"),
        subject="[PATCH v2 rdma-rc] RDMA/bnxt_re: Fix a potential memory leak in destroy_gsi_sqp",
    ),
    Case(
        "cjk_mailing_lists/outlook_gb2312_dafu_mangled_tag.eml",
        text=("I will fix this in v2",),
        subject="[????] Re: [PATCH][net-next] net/mlx5: Expedite notifier unregistration during device teardown",
        charset="gb18030",
    ),
    Case(
        "cjk_mailing_lists/qqmail_gb18030_subject.eml",
        text=("it should actually be related to the SMC subsystem",),
        subject="Additional description about bug: “KASAN: null-ptr-deref Read in smc_tcp_syn_recv_sock”",
        charset="gb18030",
    ),
    Case(
        "cjk_mailing_lists/contact_form_auto_ack_iso-2022-jp.eml",
        subject="お問い合わせを承りました",
        charset="iso2022_jp_ext",
        automatic="mailing_list",
    ),
    Case("cjk_mailing_lists/bugzilla_auto-generated.eml", automatic="bulk", text=("Bug ID: 220280",)),
    # --- CJK charsets ----------------------------------------------------------------------
    Case("cjk/enmime_big5_body_labelled_us-ascii.eml", text=("北齊 顏之推",), charset="big5hkscs"),
    Case("cjk/webklex_x-gbk_charset.eml", text=("Hi",), charset="gb18030", automatic=None),
    Case("cjk/mail_ks_c_5601-1987_8bit.eml", text=("스티해",), charset="cp949"),
    Case("cjk/mail_shift_jis_8bit.eml", text=("あいうえお", "よろしくお願い申し上げます"), charset="cp932"),
    Case(
        "cjk/mail_iso-2022-jp_body.eml",
        text=("すみません。",),
        subject="まみむめも",
        charset="iso2022_jp_ext",
    ),
    Case(
        "cjk/webklex_ks_c_5601-1987_headers.eml",
        subject="회원님께 Ersi님이 메시지를 보냈습니다.",
        from_name="김 현진",
    ),
    Case(
        "cjk/spamscope_gb2312_plain.eml",
        subject="代开各地增值税发票",
        from_name="张先生",
        text=("增值税发票",),
    ),
    Case("cjk/spamscope_gb2312_html_only.eml", html_only=True, charset="gb18030", text=("内射",)),
    Case(
        "cjk/mail_japanese_rfc2231_long_attachment_name.eml",
        attachments=("かきくけこ" * 5 + ".txt",),
    ),
    Case("cjk/enmime_raw_utf8_chinese_filename.eml", attachments=("管理.doc",), text=("Text part",)),
    # --- attachments and structure ---------------------------------------------------------
    Case(
        "structure/webklex_rfc2231_long_filename.eml",
        attachments=(
            (
                "Buchungsbestätigung- Rechnung-Geschäftsbedingungen-Nr.B123-45 - XXXXX "
                "xxxxxxxxxxxxxxxxx XxxX, Lüxxxxxxxxxx - VM Klau.pdf"
            ),
            (
                "01_A€àä____@Z-0123456789-qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
                "qwertyuiopasdfghjklzxcvbnmopqrstuvz-01234567.txt"
            ),
            (
                "02_A€àäąбيد@Z-0123456789-qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
                "qwertyuiopasdfghjklzxcvbnmopqrstuvz-01234567.txt"
            ),
        ),
    ),
    Case("structure/mail_attachment_nonascii_filename.eml", attachments=("ciële.txt",)),
    Case(
        "structure/webklex_filename_with_commas_semicolons.eml",
        attachments=("Checkliste 10.,DAVIDGASSE 76-80;2;2.pdf",),
    ),
    Case("structure/zb_raw_8bit_header.eml", subject="Die Hasen und die Frösche (Microsoft Outlook 00)"),
    Case("structure/mail_rfc6532_utf8_headers.eml", sender="jdöe@mächine.example", subject="Säying Hello"),
    Case(
        "structure/zb_utf-7_encoded_word.eml",
        subject="Die Hasen und die Frösche (Microsoft Outlook 00)",
        charset="utf-7",
        text=("Die Hasen klagten einst über ihre mißliche Lage",),
    ),
    Case(
        "structure/spamscope_lotus_nested_related_pdf.eml",
        attachment_types=("image/gif", "image/gif", "image/gif", "application/pdf"),
        text=("aggiornamento della campagna Move To Eight",),
    ),
    # --- replies from many clients ---------------------------------------------------------
    Case(
        "replies/chatwoot_gmail_reply_with_quote.eml",
        text=("Yes, I am providing you step how to reproduce this issue",),
        quoted=("Any update on this?", "Software developer"),
        conversation_key="CAFkiBVxGoURoqdkY-O_25F-8b41kb-GWBc6hh4Djd5ynwOikXA@mail.gmail.com",
        automatic=None,
    ),
    Case("replies/talon_hotmail.eml", text=("Hello",), quoted=("From: bob@xxx.mailgun.org",), subject="Test"),
    Case("replies/talon_outlook.eml", text=("Hello",), quoted=("The manager has commented on your Loop",)),
    Case("replies/talon_aol.eml", text=("Hello",), quoted=("-----Original Message-----",)),
    Case("replies/talon_android.eml", text=("Hello",), quoted=("написал:",)),
    Case(
        "replies/talon_yahoo.eml",
        text=("Hello",),
        quoted=("----- Original Message -----",),
        conversation_key="1333374262.7063.15.camel@mg5",
    ),
    Case(
        "replies/watchdog_re_foi_reply_with_pdf.eml",
        text=("w załączeniu przesyłam odpowiedź na informację publiczną",),
        attachments=("OR.1434.76.2025 fedrowanie.pdf",),
        attachment_types=("application/pdf",),
    ),
    Case(
        "replies/watchdog_foi_answer_html_pdf.eml",
        html_only=True,
        text=("Odpowiedź na wniosek o udostępnienie informacji publicznej w załączeniu.",),
        attachments=("15.1431 Stowarzyszenie Sieć Obywatelska Watchdog Polska - media.pdf",),
        attachment_types=("application/pdf",),
    ),
    # --- malformed -------------------------------------------------------------------------
    Case(
        "malformed/mail_invalid_subject_8bit_win1252.eml",
        subject="Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro",
    ),
    Case(
        "malformed/spamscope_encoded_display_name_with_comma.eml",
        sender="comma.name@example.com",
        from_name="LastßlName, FirstName",
    ),
    Case("malformed/spamscope_address_as_display_name.eml", sender="bob@example.com"),
    Case("malformed/enmime_extra_base64_character.eml", text=("Hello World!",)),
    Case("malformed/mail_bad_encoded_subject.eml", subject="TEST"),
    Case("malformed/enmime_encoded_word_recursion.eml", subject="MIME UTF8 Test ¢ More Text"),
    # --- automatic mail and delivery reports -------------------------------------------------
    Case(
        "auto_replies_bounces/sisimai_not_a_bounce_forward_as_attachment.eml",
        automatic=None,
        dsn_original_id=None,
        attachments=("original.eml",),
        text=("it shouldn't be considered as bounce",),
    ),
    Case("auto_replies_bounces/sisimai_rfc3834-02_exchange_automatic_reply.eml", automatic="auto_reply"),
    Case("auto_replies_bounces/chatwoot_arabic_auto_reply_x-autoreply.eml", automatic="auto_reply"),
    Case(
        "auto_replies_bounces/sisimai_rfc3834-04_windows-1252.eml", automatic="auto_reply", charset="cp1252"
    ),
    Case("auto_replies_bounces/sisimai_arf_feedback_report.eml", automatic="feedback_report"),
    Case("auto_replies_bounces/watchdog_disposition-notification.eml", automatic="read_receipt"),
    Case("auto_replies_bounces/watchdog_read_receipt_outlook_pl.eml", automatic="read_receipt"),
    Case(
        "auto_replies_bounces/chatwoot_dsn_empty_from_truncated.eml",
        automatic="bounce",
        sender="",
        from_name="Mail Delivery System",
        dsn_status="5.7.1",
        dsn_permanent=True,
        dsn_recipient="noreply@example-service.com",
    ),
    Case(
        "auto_replies_bounces/mail_dsn_delayed_422.eml",
        automatic="bounce",
        dsn_original_id="15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au",
        dsn_status="4.2.2",
        dsn_permanent=False,
    ),
    Case(
        "auto_replies_bounces/sisimai_rfc3464-01_sendmail_dsn.eml",
        automatic="bounce",
        dsn_original_id="E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org",
        dsn_status="5.1.1",
        dsn_permanent=True,
        dsn_recipient="userunknown@bouncehammer.jp",
    ),
    Case(
        "auto_replies_bounces/mail_dsn_multiple_status.eml",
        automatic="bounce",
        dsn_original_id="4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail",
        dsn_status="5.3.0",
        dsn_permanent=True,
    ),
    Case(
        "auto_replies_bounces/sisimai_exim_plain_bounce.eml",
        automatic="bounce",
        dsn_original_id="E1P1ce6-000Egt-GZ@e1.example.org",
        dsn_permanent=True,
        dsn_recipient="kijitora@example.ed.jp",
    ),
    Case(
        "auto_replies_bounces/sisimai_postfix_dsn_CR_line_endings.eml",
        automatic="bounce",
        dsn_status="5.1.1",
        dsn_permanent=True,
        subject="Undelivered Mail Returned to Sender",
    ),
    Case(
        "auto_replies_bounces/sisimai_rfc3464-26_utf-7_charset.eml",
        automatic="bounce",
        charset="utf-7",
        text=("Delivery to the following recipients failed.",),
        dsn_status="5.1.1",
    ),
    Case("auto_replies_bounces/enmime_report_without_boundary.eml", automatic="bounce"),
    Case(
        "cjk/sisimai_qmail_bounce_iso-2022-jp.eml",
        automatic="bounce",
        dsn_permanent=True,
        dsn_recipient="kijitora@example.ne.jp",
    ),
    Case(
        "malformed/mail_mimepart_without_content_type.eml",
        automatic="bounce",
        dsn_status="4.5.0",
        dsn_permanent=False,
    ),
)
