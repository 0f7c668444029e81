"""`/hooks/unsubscribe`: RFC 8058 one-click unsubscribe, and the page behind the link.

`POST` unsubscribes (what mail clients send for `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`, with no cookie or session: the signed token is the
credential). `GET` only shows a page whose button POSTs: link scanners and
prefetchers follow GETs, and must not unsubscribe anybody.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from cluster.errors import InvalidInput
from cluster.notifications.kinds import KINDS
from cluster.notifications.unsubscribe import PATH
from serve.notifications.inbox import Inbox

MAX_FORM_BYTES = 4096
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"></head>
<body style="font-family: system-ui, sans-serif; max-width: 480px; margin: 48px auto;">
<h1 style="font-size: 20px;">{title}</h1><p>{body}</p>{form}</body></html>"""


def _page(title: str, body: str, *, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(title=escape(title), body=escape(body), form=form),
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def _token(request: Request) -> str:
    token = request.query_params.get("token")
    if token is None and request.method == "POST":
        # The confirm page's form (urlencoded); a mail client's one-click POST carries
        # the token in the URL and `List-Unsubscribe=One-Click` in the body.
        body = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
        token = next(iter(parse_qs(body).get("token", [])), None)
    return token or ""


def create_router(inbox: Inbox) -> APIRouter:
    router = APIRouter()

    @router.get(PATH)
    async def confirm(request: Request) -> HTMLResponse:
        token = await _token(request)
        try:
            kind = await run_in_threadpool(inbox.check_unsubscribe, token)
        except InvalidInput as exc:
            return _page("Link not valid", exc.detail, status=400)
        form = (
            f'<form method="post" action="{PATH}">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            '<button type="submit">Unsubscribe</button></form>'
        )
        return _page(
            "Unsubscribe?",
            f"You will no longer get emails about: {KINDS[kind].description}.",
            form=form,
        )

    @router.post(PATH)
    async def unsubscribe(request: Request) -> HTMLResponse:
        token = await _token(request)
        try:
            kind = await run_in_threadpool(inbox.unsubscribe, token)
        except InvalidInput as exc:
            return _page("Link not valid", exc.detail, status=400)
        return _page(
            "Unsubscribed",
            f"You will no longer get emails about: {KINDS[kind].description}. "
            "Turn them back on in your notification settings.",
        )

    return router
