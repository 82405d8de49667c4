"""``GET /answers/{entry_id}``: the full answer behind a shortened SMS reply.

SMS replies are cut to a few segments and end with this page's link (``responder/render.py``),
so the page must read well on a basic phone browser: one small, self-contained HTML document
(no scripts, no external assets), ``lang="zh-CN"``, a viewport for mobile screens, every text
from the knowledge base HTML-escaped. Knowledge-base entries are public information; nothing
about any citizen or conversation is shown here.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from responder.kb_model import DepartmentRecord, EntryRecord

router = APIRouter()

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - 阳光政务咨询</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0 auto;max-width:40em;
padding:1em;line-height:1.7;color:#222;background:#fff}}
h1{{font-size:1.3em;margin:.2em 0 .8em}} .answer{{white-space:pre-wrap}}
footer{{margin-top:2em;font-size:.85em;color:#666}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<div class="answer">{body}</div>
</main>
<footer>{footer}</footer>
</body>
</html>
"""


def _department_text(dep: DepartmentRecord) -> str:
    lines = [f"{label}：{number}" for label, number in dep.phones.items()]
    for label, value in (
        ("地址", dep.address),
        ("办公时间", dep.hours),
        ("邮箱", dep.email),
        ("主要职责", dep.duties),
    ):
        if value:
            lines.append(f"{label}：{value}")
    return "\n".join(lines)


def render_answer_page(record: EntryRecord | DepartmentRecord, department_name: str | None = None) -> str:
    """The HTML page for one entry or department record (all values escaped)."""
    if isinstance(record, DepartmentRecord):
        title, body, footer = record.name, _department_text(record), "阳光政务咨询平台"
    else:
        title, body = record.title, record.answer.strip()
        footer = f"答复部门：{department_name}" if department_name else "阳光政务咨询平台"
    return _PAGE.format(title=escape(title), body=escape(body), footer=escape(footer))


@router.get("/answers/{entry_id}", response_class=HTMLResponse, include_in_schema=False)
async def answer_page(entry_id: str, request: Request) -> HTMLResponse:
    gateway = request.app.state.gateway
    await gateway.responder.reload(gateway.session_factory)  # cheap unless the KB changed
    kb = gateway.responder.kb
    record: EntryRecord | DepartmentRecord | None = kb.entry(entry_id) or kb.department(entry_id)
    if record is None:
        raise HTTPException(404, "no such answer")
    department = kb.department(record.department) if isinstance(record, EntryRecord) else None
    html = render_answer_page(record, department.name if department else None)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})
