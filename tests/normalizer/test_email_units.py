"""Unit tests for the e-mail normalizer: subjects, charsets, headers, names, HTML, parse_rfc822."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.errors import BadInput
from normalizer.email import (
    decode_bytes,
    decode_header,
    find_work_order_tag,
    html_to_text,
    normalize_subject,
    parse_addresses,
    parse_message_ids,
    parse_rfc822,
    reply_subject,
)
from normalizer.email.attachments import safe_filename, sniff_content_type
from normalizer.email.subjects import repair_mojibake

# --- subjects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("Re: Re: RE: Fwd: FW: 身份证", "身份证"),
        ("回复: 回覆: 答复: 转发: 问题", "问题"),
        ("回复：Re：全角冒号", "全角冒号"),
        ("AW: SV: I: Re[2]: Hello", "Hello"),
        ("Re:Re:  how to change  debug uart", "how to change debug uart"),
        ("Research: not a prefix", "Research: not a prefix"),
        ("Re: åå¤: Re: [PATCH] x", "[PATCH] x"),
        ("", ""),
    ],
)
def test_normalize_subject(raw: str, base: str) -> None:
    assert normalize_subject(raw) == base


def test_reply_subject_never_stacks() -> None:
    assert reply_subject("Re: 回复: RE: 办证 [#12345]") == "Re: 办证 [#12345]"
    assert reply_subject(reply_subject("question")) == "Re: question"
    assert reply_subject("") == "Re:"


def test_mojibake_repair() -> None:
    broken = "回复".encode().decode("latin-1")  # UTF-8 bytes read as Latin-1
    assert repair_mojibake(f"{broken}: test") == "回复: test"
    assert repair_mojibake("café Ä") == "café Ä"  # genuine Latin text untouched
    assert normalize_subject(f"{broken}: 咨询") == "咨询"


@pytest.mark.parametrize(
    ("subject", "tag"),
    [
        ("Re: 办证进度 [#12345]", 12345),
        ("［＃６７８］全角", 678),
        ("[# 42] spaced", 42),
        ("no tag [12345]", None),
        (None, None),
    ],
)
def test_work_order_tag(subject: str | None, tag: int | None) -> None:
    assert find_work_order_tag(subject) == tag


# --- charsets -------------------------------------------------------------------------------


def test_gb2312_label_with_gbk_only_bytes() -> None:
    data = "-----原始郵件----- 寄件者".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    assert decode_bytes(data, "gb2312") == ("-----原始郵件----- 寄件者", "gb18030")
    assert decode_bytes(data, "X-GBK")[0] == "-----原始郵件----- 寄件者"


def test_big5_labelled_us_ascii_is_sniffed() -> None:
    text = "您好，請問身份證要去哪裡辦理？"
    assert decode_bytes(text.encode("big5"), "us-ascii") == (text, "big5hkscs")


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("ks_c_5601-1987", "cp949"),
        ("unicode-1-1-utf-7", "utf-7"),
        ("shift_jis", "cp932"),
        ("iso-2022-jp", "iso2022_jp_ext"),
    ],
)
def test_aliases(label: str, codec: str) -> None:
    samples = {
        "cp949": "안녕하세요",
        "utf-7": "Frösche",
        "cp932": "あいうえお",
        "iso2022_jp_ext": "すみません",
    }
    text = samples[codec]
    assert decode_bytes(text.encode(codec), label) == (text, codec)


@pytest.mark.parametrize("label", ["X-IAS-German", "NONE", "", None, '""'])
def test_unknown_labels_fall_back_to_sniffing(label: str | None) -> None:
    assert decode_bytes("Grüße aus Köln".encode(), label) == ("Grüße aus Köln", "utf-8")


def test_cp1252_is_not_mistaken_for_cjk() -> None:
    assert decode_bytes("Formação Verão".encode("cp1252"), None)[0] == "Formação Verão"


def test_decode_never_raises_on_garbage() -> None:
    text, _codec = decode_bytes(bytes(range(256)) * 3, "utf-8")
    assert isinstance(text, str) and text


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # multibyte character split over two encoded words (bytes joined before decoding)
        ("=?UTF-8?B?5Yqe5w==?= =?UTF-8?B?kIbouqvku73or4E=?=", "办理身份证"),
        ("=?gb2312?B?u9i4tDogsOzA7Q==?=", "回复: 办理"),
        ("=?UTF-8? Q?caf=C3=A9?=", "café"),  # broken spacing
        ("=?NONE?B?VEVTVA=?=", "TEST"),  # unknown charset, bad padding
        ("=?utf-8?B?PT91dGYtOD9CP1pXbGpiMjA9Pz0=?=", "eicom"),  # double encoding
        ("Fr\udcf6sche", "Frösche"),  # raw 8-bit byte (surrogate escape) in a header
        ("plain\r\n folded", "plain folded"),
    ],
)
def test_decode_header(raw: str, decoded: str) -> None:
    assert decode_header(raw) == decoded


def test_addresses() -> None:
    (a,) = parse_addresses("=?utf-8?b?TGFzdMOfTmFtZSwgRmlyc3ROYW1l?= <a@b.example>")
    assert (a.name, a.addr) == ("LastßName, FirstName", "a@b.example")
    (b,) = parse_addresses('"" (Mail Delivery System)')
    assert (b.name, b.addr) == ("Mail Delivery System", "")
    (c,) = parse_addresses("alice@example.com <bob@example.com>")
    assert c.addr == "bob@example.com"
    assert [x.addr for x in parse_addresses("A <a@x>, B <b@y>,\r\n")] == ["a@x", "b@y"]
    assert parse_addresses(None) == []
    assert [x.addr for x in parse_addresses("MAILER-DAEMON")] == ["MAILER-DAEMON"]


def test_message_ids() -> None:
    assert parse_message_ids("<a@b> <c@d>\r\n <a@b>") == ["a@b", "c@d"]
    assert parse_message_ids("someone@yahoo.com") == ["someone@yahoo.com"]
    assert parse_message_ids(None) == []


# --- attachments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("CON.txt", "_CON.txt"),
        ('what?"<>|*.doc', "what______.doc"),
        ("", "attachment-3.pdf"),
        ("...", "attachment-3.pdf"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name, "application/pdf", 3) == safe


def test_long_filename_keeps_extension() -> None:
    safe = safe_filename("很长" * 200 + ".docx")
    assert len(safe) <= 120 and safe.endswith(".docx")


@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (b"%PDF-1.7\n", "x.bin", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "x", "image/png"),
        (b"\xff\xd8\xff\xe0", "x", "image/jpeg"),
        (b"GIF89a..", "x", "image/gif"),
        (b"II*\x00....", "fax.dat", "image/tiff"),
        (
            b"PK\x03\x04....",
            "a.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04....", "a.bin", "application/zip"),
        (b"hello", "a.txt", "text/plain"),
    ],
)
def test_sniff_content_type(data: bytes, name: str, ctype: str) -> None:
    assert sniff_content_type(data, "text/plain", name) == ctype


# --- HTML -----------------------------------------------------------------------------------


def test_html_to_text_structure() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<h1>标题</h1><p>第一段&nbsp;内容 &amp; 更多</p><div>第二行<br>第三行</div>"
        "<script>alert(1)</script><ul><li>一</li><li>二</li></ul>"
        "<table><tr><td>a</td><td>b</td></tr></table></body></html>"
    )
    text = html_to_text(html)
    assert "alert" not in text and "color" not in text and "t\n" not in text
    assert "标题\n\n第一段 内容 & 更多" in text.replace("\u00a0", " ")
    assert "第二行\n第三行" in text
    assert "一\n二" in text and "a b" in text


def test_html_quote_is_removed_before_conversion() -> None:
    html = (
        '<div>我的新问题</div><div id="appendonsend"></div><hr>'
        '<div id="divRplyFwdMsg"><b>发件人:</b> 服务中心</div><div>旧的回复</div>'
    )
    assert html_to_text(html, strip_quotes=True) == "我的新问题"
    outlook = (
        '<p>New text</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;'
        'padding:3.0pt 0cm 0cm 0cm"><p><b>From:</b> x</p></div><p>old</p>'
    )
    assert html_to_text(outlook, strip_quotes=True) == "New text"
    assert "old" in html_to_text(outlook)


# --- parse_rfc822 ---------------------------------------------------------------------------

_MAIL = (
    b"From: =?utf-8?b?5byg5LiJ?= <ZhangSan@Example.COM>\r\n"
    b"To: service@gateway.localhost, other@x.example\r\n"
    b"Subject: =?utf-8?b?5Zue5aSNOiDlip7or4Hov5vluqYgWyMxMjM0NV0=?=\r\n"
    b"Date: Tue, 14 Jul 2026 10:55:37 +0800\r\n"
    b"Message-ID: <m2@example.com>\r\n"
    b"In-Reply-To: <m1@gateway.localhost>\r\n"
    b"References: <root@gateway.localhost> <m1@gateway.localhost>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + __import__("base64").b64encode(
        "请问办理进度如何？\r\n\r\n发自我的iPhone\r\n\r\n-----原始邮件-----\r\n发件人: 服务中心\r\n旧内容".encode(
            "gbk"
        )
    )
    + b"\r\n--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''..%2F%E8%BA%AB%E4%BB%BD%E8%AF%81.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJeLjz9MK\r\n--b--\r\n"
)


def test_parse_rfc822_fields() -> None:
    parsed = parse_rfc822(_MAIL)
    inq = parsed.inquiry
    assert inq.channel == "email"
    assert inq.sender == "zhangsan@example.com"
    assert inq.recipient == "service@gateway.localhost"
    assert inq.subject == "办证进度 [#12345]"
    assert inq.text == "请问办理进度如何？"
    assert "旧内容" in inq.metadata["original_text"]
    assert inq.language == "zh"
    assert inq.provider_message_id == "m2@example.com"
    assert inq.conversation_key == "root@gateway.localhost"
    assert inq.received_at == dt.datetime(2026, 7, 14, 2, 55, 37, tzinfo=dt.UTC)
    assert inq.metadata["work_order"] == 12345
    assert inq.metadata["references"] == ["root@gateway.localhost", "m1@gateway.localhost"]
    assert inq.metadata["in_reply_to"] == "m1@gateway.localhost"
    assert inq.metadata["from_name"] == "张三"
    assert parsed.automatic is None and parsed.dsn is None
    assert parsed.charset == "gb18030"
    (att,) = inq.attachments
    assert (att.filename, att.content_type) == ("身份证.pdf", "application/pdf")
    assert att.data is not None and att.data.startswith(b"%PDF")


def test_size_cap_drops_data_with_note() -> None:
    (att,) = parse_rfc822(_MAIL, max_attachment_bytes=4).inquiry.attachments
    assert att.data is None and att.note == "over size cap" and att.filename == "身份证.pdf"


def test_missing_message_id_gets_stable_synthetic_id() -> None:
    raw = b"From: a@b.example\nSubject: hi\n\nhello\n"
    first = parse_rfc822(raw).inquiry
    assert first.provider_message_id.startswith("sha256:")
    assert first.provider_message_id == parse_rfc822(raw).inquiry.provider_message_id
    assert first.conversation_key == first.provider_message_id
    assert first.language == "en"


def test_bad_date_falls_back_to_now() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    raw = b"From: a@b.example\nDate: \nSubject: x\n\nbody\n"
    assert parse_rfc822(raw, now=now).inquiry.received_at == now
    raw = b"From: a@b.example\nDate: not a date at all\n\nbody\n"
    assert parse_rfc822(raw, now=now).inquiry.received_at == now


@pytest.mark.parametrize("raw", [b"", b"  \r\n\t"])
def test_empty_input_is_bad_input(raw: bytes) -> None:
    with pytest.raises(BadInput, match="empty"):
        parse_rfc822(raw)


def test_random_bytes_give_a_result() -> None:
    raw = bytes((i * 37 + 11) % 256 for i in range(2000))
    parsed = parse_rfc822(raw)
    assert parsed.inquiry.provider_message_id.startswith("sha256:")
    assert "\r" not in parsed.inquiry.text


def test_html_only_mail() -> None:
    raw = (
        b"From: x@y.example\nSubject: q\nContent-Type: text/html; charset=utf-8\n\n"
        b'<p>\xe6\x96\xb0\xe9\x97\xae\xe9\xa2\x98</p><div class="gmail_quote">On x wrote:'
        b"<blockquote>old</blockquote></div>"
    )
    inq = parse_rfc822(raw).inquiry
    assert inq.text == "新问题"
    assert inq.metadata["html_only"] is True
    assert "old" in inq.metadata["original_text"]
