"""Accounts and sessions: one-time codes, passwords, JWT sessions, profiles and tiers.

`Accounts` is a plain class built once per process by `serve.platform.Platform` and
called in-process by the gateway and the upload edge. Every limit is counted here, per
attempt, in the KV store, so no shape of GraphQL request (aliases, batches, many
replicas) gets more tries than one client sending one request at a time.

KV keys (contacts and addresses appear only as keyed hashes):

    auth:otp:{contact}          the code's keyed hash and expiry   (10 min)
    auth:otp-tries:{contact}    tries at the current code
    auth:otp-req:{c|ip}:{id}    codes requested in the window
    auth:fail:{c|ip}:{id}       failed codes and passwords in the window
    auth:family:{family}        a sign-in's refresh-token family is live
    auth:used:{jti}             a refresh token has been spent
    auth:grace:{jti}            what that spend returned, for a retry (seconds)
    auth:gen:{user_id}          bumped by "log out everywhere" and suspension; also
                                read by the stream deployment for private playback
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from cluster.config import Settings
from cluster.db.models import Role, Tier, User
from cluster.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from cluster.kv import KV, session_generation, session_generation_key
from cluster.messaging import Message, MessageSender
from cluster.security import (
    Claims,
    Clock,
    TokenSigner,
    TokenType,
    constant_time_equal,
    derive_key,
    dummy_password_hash,
    hash_password,
    keyed_hash,
    new_otp,
    verify_password,
)
from cluster.storage import ObjectStore
from cluster.tiers import TierLimits
from pipelines.media.images import make_avatar
from serve.accounts.attempts import Attempts, RateLimits
from serve.accounts.contacts import Contact, contact_of, handle_base, handle_suffix, parse_contact
from serve.accounts.instance import claim_instance
from serve.accounts.views import AuthSession, UserView
from serve.text import clean_text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

HANDLE_RE = re.compile(r"[a-z0-9_]{3,32}")
CODE_RE = re.compile(r"[0-9]{6}")
MIN_PASSWORD, MAX_PASSWORD = 10, 200

WRONG_CODE = "the code is wrong or has expired: check it, or request a new one"
BAD_CREDENTIALS = "wrong email, phone or password: check them, or sign in with a code"
SESSION_ENDED = "this session has ended: sign in again"
SUSPENDED = "this account is suspended: contact an administrator"


class Accounts:
    """Sign-in, sessions, profiles and tiers; every limit counted per attempt."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        kv: KV,
        store: ObjectStore,
        sender: MessageSender,
        clock: Clock = time.time,
        limits: RateLimits | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.kv = kv
        self.store = store
        self.sender = sender
        self.clock = clock
        self.limits = limits or RateLimits()
        self.attempts = Attempts(kv, self.limits)
        self.signer = TokenSigner.from_settings(settings, clock=clock)
        secret = settings.signing_secret.get_secret_value()
        self._otp_key = derive_key(secret, "otp")
        self._id_key = derive_key(secret, "kv-id")

    # --- one-time codes ------------------------------------------------------------

    def request_otp(
        self, *, email: str | None = None, phone: str | None = None, ip: str = ""
    ) -> None:
        """Send a sign-in code. Known and unknown contacts get the same answer and path:
        the database is not read here, and the first verified code creates the account.
        """
        contact = parse_contact(email=email, phone=phone)
        cid, ipid = self._id(contact.value), self._id(ip)
        self.attempts.count(
            f"auth:otp-req:ip:{ipid}",
            self.limits.otp_requests_per_ip,
            "too many codes were requested from this network: wait before asking again",
        )
        self.attempts.count(
            f"auth:otp-req:c:{cid}",
            self.limits.otp_requests_per_contact,
            "too many codes were requested for this address: wait before asking again",
        )
        code = new_otp()
        ttl = self.settings.otp_ttl_s
        record = {"h": keyed_hash(self._otp_key, cid, code), "exp": self.clock() + ttl}
        self.kv.set(f"auth:otp:{cid}", json.dumps(record), ttl=ttl)
        self.kv.delete(f"auth:otp-tries:{cid}")
        minutes = ttl // 60
        body = f"Your vidray code is {code}. It expires in {minutes} minutes."
        channel: Literal["email", "sms"] = "email" if contact.kind == "email" else "sms"
        self.sender.send(Message(channel, contact.value, "Your vidray sign-in code", body))

    def verify_otp(
        self, *, code: str, email: str | None = None, phone: str | None = None, ip: str = ""
    ) -> AuthSession:
        """Trade a code for a session; the first verified code signs the person up."""
        contact = parse_contact(email=email, phone=phone)
        cid, ipid = self._id(contact.value), self._id(ip)
        self.attempts.refuse_if_locked(cid, ipid)
        # Counted before comparing, so concurrent guesses cannot all slip in as "first".
        tries = self.kv.incr(f"auth:otp-tries:{cid}", ttl=self.settings.otp_ttl_s)
        if tries > self.limits.tries_per_code:
            self.kv.delete(f"auth:otp:{cid}")
            self.attempts.failed(cid, ipid)
            raise RateLimited(
                f"this code had {self.limits.tries_per_code} tries: request a new code",
                retry_after=1,
            )
        raw = self.kv.get(f"auth:otp:{cid}")
        record: dict[str, Any] = json.loads(raw) if raw else {"h": "", "exp": 0.0}
        expected = keyed_hash(self._otp_key, cid, code.strip())
        # Compare even when no code is stored, so both cases take the same time.
        matches = constant_time_equal(expected, record["h"])
        if not (matches and record["exp"] > self.clock() and CODE_RE.fullmatch(code.strip())):
            self.attempts.failed(cid, ipid)
            raise Unauthenticated(WRONG_CODE)
        # Single use, even against two verifications racing with the same code.
        if not self.kv.set(
            f"auth:otp-used:{record['h']}", "1", ttl=self.settings.otp_ttl_s, only_new=True
        ):
            raise Unauthenticated(WRONG_CODE)
        self.kv.delete(f"auth:otp:{cid}", f"auth:otp-tries:{cid}", f"auth:fail:c:{cid}")
        return self._start_session(self._find_or_create(contact))

    # --- passwords -----------------------------------------------------------------

    def login(self, *, identifier: str, password: str, ip: str = "") -> AuthSession:
        """Password sign-in with an email address or phone number."""
        contact = contact_of(identifier)
        cid, ipid = self._id(contact.value), self._id(ip)
        self.attempts.refuse_if_locked(cid, ipid)
        with self.sessions() as session:
            user = session.scalar(self._by_contact(contact))
        stored = user.password_hash if user is not None else None
        # Unknown accounts are checked against a dummy hash: same time, same answer.
        ok = verify_password(password, stored or dummy_password_hash()) and stored is not None
        if user is None or not ok:
            self.attempts.failed(cid, ipid)
            raise Unauthenticated(BAD_CREDENTIALS)
        self.kv.delete(f"auth:fail:c:{cid}")
        return self._start_session(user)

    def set_password(
        self, *, user_id: str, password: str, current_password: str | None = None, ip: str = ""
    ) -> None:
        """Set or change the password; changing one needs the current one."""
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                "password", f"use between {MIN_PASSWORD} and {MAX_PASSWORD} characters"
            )
        cid, ipid = self._id(f"user:{user_id}"), self._id(ip)
        self.attempts.refuse_if_locked(cid, ipid)
        with self.sessions() as session:
            user = self._get(session, user_id)
            if user.password_hash and not verify_password(
                current_password or "", user.password_hash
            ):
                self.attempts.failed(cid, ipid)
                raise Unauthenticated("the current password is wrong: check it and try again")
            user.password_hash = hash_password(password)
            session.commit()

    # --- sessions ------------------------------------------------------------------

    def authenticate(self, access_token: str) -> UserView:
        """The user behind an access token; suspended and revoked sessions are refused."""
        claims = self.signer.verify(access_token, type=TokenType.ACCESS)
        with self.sessions() as session:
            return self._view(self._live_user(session, claims))

    def refresh(self, refresh_token: str) -> AuthSession:
        """Rotate: a refresh token works once. Spending one twice ends its whole family,
        unless the second spend is a retry within the grace window (a lost response).
        """
        claims = self.signer.verify(refresh_token, type=TokenType.REFRESH)
        family = str(claims.extra["fam"])
        remaining = max(1.0, claims.expires_at - self.clock())
        spent = f"auth:used:{claims.token_id}"
        with self.sessions() as session:
            user = self._live_user(session, claims)
            if self.kv.set(spent, "1", ttl=remaining, only_new=True):
                fresh = self._start_session(user, family=family)
                grace = self.settings.refresh_grace_s
                if grace:
                    # The deadline is checked against our clock too; the KV TTL only
                    # cleans up.
                    record = {"token": fresh.refresh_token, "until": self.clock() + grace}
                    self.kv.set(f"auth:grace:{claims.token_id}", json.dumps(record), ttl=grace)
                return fresh
            raw = self.kv.get(f"auth:grace:{claims.token_id}")
            retried: dict[str, Any] = json.loads(raw) if raw else {"until": 0.0}
            if retried["until"] > self.clock():
                again = self._start_session(user, family=family)
                return AuthSession(
                    again.access_token, retried["token"], again.expires_in, again.user
                )
        self.kv.delete(f"auth:family:{family}")
        raise Unauthenticated(
            "this refresh token was already used, so every session of that sign-in has "
            "ended: sign in again"
        )

    def logout(self, access_token: str, *, everywhere: bool = False) -> None:
        """End this sign-in, or with `everywhere` every session of the account."""
        claims = self.signer.verify(access_token, type=TokenType.ACCESS)
        self._require_live(claims)
        self.kv.delete(f"auth:family:{claims.extra['fam']}")
        if everywhere:
            self.kv.incr(session_generation_key(claims.subject))

    # --- profiles and tiers --------------------------------------------------------

    def update_profile(
        self,
        *,
        user_id: str,
        display_name: str | None = None,
        handle: str | None = None,
        bio: str | None = None,
        avatar: bytes | None = None,
    ) -> UserView:
        with self.sessions() as session:
            user = self._get(session, user_id)
            if display_name is not None:
                user.display_name = clean_text("displayName", display_name, limit=80)
            if bio is not None:
                user.bio = clean_text("bio", bio, limit=1000, lines=True)
            if handle is not None:
                wanted = handle.strip().lower()
                if not HANDLE_RE.fullmatch(wanted):
                    raise InvalidInput(
                        "handle", "use 3 to 32 lowercase letters, digits or underscores"
                    )
                if wanted != user.handle and session.scalar(
                    select(User.id).where(User.handle == wanted)
                ):
                    raise InvalidInput("handle", f"{wanted!r} is taken: choose another")
                user.handle = wanted
            if avatar is not None:
                key = f"img/avatars/{user.id}.jpg"
                self.store.put_bytes(key, make_avatar(avatar))
                user.avatar_key = key
            try:
                session.commit()
            except IntegrityError:  # another account took the handle meanwhile
                raise InvalidInput("handle", "is taken: choose another") from None
            return self._view(user)

    def user(self, user_id: str) -> UserView:
        with self.sessions() as session:
            return self._view(self._get(session, user_id))

    def tiers(self) -> dict[str, TierLimits]:
        return dict(self.settings.tiers)

    def set_tier(self, *, actor_id: str, user_id: str, tier: Tier) -> UserView:
        with self.sessions() as session:
            self._require_admin(session, actor_id)
            user = self._get(session, user_id)
            user.tier = Tier(tier)
            session.commit()
            return self._view(user)

    def grant_admin(self, account: str, *, revoke: bool = False) -> UserView:
        """The operator's `vidray admin`: give the account (an email address or phone
        number) the admin role, or take it away. The API lets no one make an admin."""
        contact = contact_of(account)
        with self.sessions() as session:
            user = session.scalar(self._by_contact(contact))
            if user is None:
                raise InvalidInput(
                    contact.kind, f"no account uses {contact.value}: sign in once with a code first"
                )
            user.role = Role.USER if revoke else Role.ADMIN
            session.commit()
            return self._view(user)

    def suspend(self, *, actor_id: str, user_id: str, suspended: bool = True) -> UserView:
        """Suspend (or restore) an account; its tokens stop working on the next request."""
        with self.sessions() as session:
            self._require_admin(session, actor_id)
            if user_id == actor_id:
                raise InvalidInput("userId", "an admin cannot suspend their own account")
            user = self._get(session, user_id)
            user.suspended_at = datetime.fromtimestamp(self.clock(), UTC) if suspended else None
            session.commit()
            if suspended:  # also ends refresh families; authenticate checks the row too
                self.kv.incr(session_generation_key(user.id))
            return self._view(user)

    # --- internals -----------------------------------------------------------------

    def _id(self, value: str) -> str:
        return keyed_hash(self._id_key, value)[:32]

    def _generation(self, user_id: str) -> int:
        return session_generation(self.kv, user_id)

    def _live_user(self, session: Session, claims: Claims) -> User:
        """The token's user, if the account and the session are both still live."""
        user = session.get(User, claims.subject)
        if user is None:
            raise Unauthenticated(SESSION_ENDED)
        # Before the revocation check, so a suspended person is told why.
        if user.suspended_at is not None:
            raise Forbidden(SUSPENDED)
        self._require_live(claims)
        return user

    def _require_live(self, claims: Claims) -> None:
        family = claims.extra.get("fam")
        if not isinstance(family, str) or self.kv.get(f"auth:family:{family}") is None:
            raise Unauthenticated(SESSION_ENDED)
        if claims.extra.get("gen") != self._generation(claims.subject):
            raise Unauthenticated(SESSION_ENDED)

    def _start_session(self, user: User, *, family: str | None = None) -> AuthSession:
        if user.suspended_at is not None:
            raise Forbidden(SUSPENDED)
        family = family or secrets.token_urlsafe(16)
        # Every rotation extends the family for another refresh lifetime.
        self.kv.set(f"auth:family:{family}", user.id, ttl=self.settings.refresh_ttl_s)
        extra = {"fam": family, "gen": self._generation(user.id)}
        access, _ = self.signer.issue(
            subject=user.id, type=TokenType.ACCESS, ttl=self.settings.access_ttl_s, extra=extra
        )
        refresh, _ = self.signer.issue(
            subject=user.id, type=TokenType.REFRESH, ttl=self.settings.refresh_ttl_s, extra=extra
        )
        return AuthSession(access, refresh, self.settings.access_ttl_s, self._view(user))

    def _by_contact(self, contact: Contact) -> Select[User]:
        column = User.email if contact.kind == "email" else User.phone
        return select(User).where(column == contact.value)

    def _find_or_create(self, contact: Contact) -> User:
        base = handle_base(contact)
        for attempt in range(8):
            with self.sessions() as session:
                user = session.scalar(self._by_contact(contact))
                if user is not None:
                    return user
                handle = base if attempt == 0 and len(base) >= 3 else f"{base}_{handle_suffix()}"
                user = User(handle=handle, **{contact.kind: contact.value})
                session.add(user)
                try:
                    session.flush()
                    if claim_instance(session, user.id):
                        user.role = Role.ADMIN
                    session.commit()
                except IntegrityError:  # the handle was taken, or a parallel sign-up won
                    session.rollback()
                    continue
                return user
        raise Unauthenticated("could not create the account right now: try again")

    def _get(self, session: Session, user_id: str) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise InvalidInput("userId", "no such user: check the id")
        return user

    def _require_admin(self, session: Session, actor_id: str) -> None:
        actor = session.get(User, actor_id)
        if actor is None or actor.role != Role.ADMIN or actor.suspended_at is not None:
            raise Forbidden("only an administrator can do this")

    def _view(self, user: User) -> UserView:
        return UserView(
            id=user.id,
            handle=user.handle,
            display_name=user.display_name,
            bio=user.bio,
            email=user.email,
            phone=user.phone,
            avatar_key=user.avatar_key,
            tier=Tier(user.tier),
            role=Role(user.role),
            suspended=user.suspended_at is not None,
            created_at=user.created_at,
            limits=self.settings.tiers[Tier(user.tier).value],
        )
