"""The browser's session: `/auth/session`, `/auth/refresh` and `/auth/signout`.

The GraphQL API answers sign-ins with both tokens in the body, which suits a CLI. A page
should never hold the long-lived one: these endpoints do the same sign-ins but put the
refresh token in an `HttpOnly`, `SameSite=Strict` cookie whose path is `/auth`, so
scripts cannot read it and the browser sends it nowhere else. The page keeps only the
short-lived access token, in memory, and asks `/auth/refresh` for a new one before it
expires (and on every page load).

Each endpoint takes JSON only: a cross-site form cannot send that without a CORS
preflight this server never grants for `/auth`, and the cookie is `Strict` besides.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from cluster.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated, VidrayError
from serve.accounts.service import Accounts
from serve.accounts.views import AuthSession

COOKIE = "vidray_refresh"
COOKIE_PATH = "/auth"

# The one mapping from account errors to HTTP at this edge.
STATUS: dict[type[VidrayError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    InvalidInput: 400,
}


def _refused(exc: VidrayError) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 503)
    headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


def _body(session: AuthSession) -> dict[str, Any]:
    user = session.user
    return {
        "accessToken": session.access_token,
        "expiresIn": session.expires_in,
        "user": {
            "id": user.id,
            "handle": user.handle,
            "displayName": user.display_name,
            "role": str(getattr(user.role, "value", user.role)).upper(),
        },
    }


async def _json(request: Request) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


NOT_JSON = JSONResponse(
    {"error": "send a JSON object with content-type application/json"}, status_code=415
)


def create_router(*, accounts: Accounts, secure: bool, refresh_ttl_s: int) -> APIRouter:
    """`secure`: mark the cookie `Secure` (prod mode: HTTPS only)."""
    router = APIRouter()

    def signed_in(session: AuthSession) -> JSONResponse:
        answer = JSONResponse(_body(session), headers={"cache-control": "no-store"})
        answer.set_cookie(
            COOKIE,
            session.refresh_token,
            max_age=refresh_ttl_s,
            path=COOKIE_PATH,
            httponly=True,
            secure=secure,
            samesite="strict",
        )
        return answer

    def signed_out(answer: Response) -> Response:
        answer.delete_cookie(
            COOKIE, path=COOKIE_PATH, httponly=True, secure=secure, samesite="strict"
        )
        return answer

    @router.post("/auth/session")
    async def sign_in(request: Request) -> Response:
        """`{email|phone, code}` (a one-time code) or `{identifier, password}`."""
        body = await _json(request)
        if body is None:
            return NOT_JSON
        ip = request.client.host if request.client else ""
        try:
            if "password" in body:
                session = await run_in_threadpool(
                    accounts.login,
                    identifier=str(body.get("identifier", "")),
                    password=str(body["password"]),
                    ip=ip,
                )
            else:
                session = await run_in_threadpool(
                    accounts.verify_otp,
                    code=str(body.get("code", "")),
                    email=body.get("email") or None,
                    phone=body.get("phone") or None,
                    ip=ip,
                )
        except VidrayError as exc:
            return _refused(exc)
        return signed_in(session)

    @router.post("/auth/refresh")
    async def refresh(request: Request) -> Response:
        """A new access token for the cookie's refresh token, which is rotated."""
        if await _json(request) is None:
            return NOT_JSON
        token = request.cookies.get(COOKIE)
        if not token:
            # Signed out is a normal state for a page, not an error to log in its console.
            return JSONResponse({"accessToken": None}, headers={"cache-control": "no-store"})
        try:
            session = await run_in_threadpool(accounts.refresh, token)
        except VidrayError as exc:
            return signed_out(_refused(exc))
        return signed_in(session)

    @router.post("/auth/signout")
    async def sign_out(request: Request) -> Response:
        """`{everywhere: true}` ends every session of the account, not just this one."""
        body = await _json(request)
        if body is None:
            return NOT_JSON
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            try:
                await run_in_threadpool(
                    accounts.logout, token, everywhere=bool(body.get("everywhere"))
                )
            except VidrayError as exc:
                return signed_out(_refused(exc))
        return signed_out(JSONResponse({"ok": True}))

    return router
