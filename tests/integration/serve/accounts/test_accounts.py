"""The account logic on SQLite + embedded KV and on PostgreSQL + Redis, without Ray."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from PIL import Image
from sqlalchemy import select

from cluster.db.models import Role, Tier, User
from cluster.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from serve.accounts.attempts import RateLimits
from serve.accounts.service import Accounts
from serve.accounts.views import AuthSession
from tests.support.accounts import MakeUsers, latest_code
from tests.support.clock import FakeClock

EMAIL = "ana.bell@example.com"
PHONE = "+14155550123"


def sign_in(users: Accounts, *, email: str = EMAIL, ip: str = "10.0.0.1") -> AuthSession:
    users.request_otp(email=email, ip=ip)
    code = latest_code(users.settings.outbox_dir, email)
    return users.verify_otp(email=email, code=code, ip=ip)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_first_code_signs_up_and_the_next_signs_in(users: Accounts) -> None:
    first = sign_in(users, email="Ana.Bell@Example.com")
    assert first.user.email == EMAIL
    assert first.user.handle == "ana_bell"
    assert first.user.tier is Tier.FREE
    assert first.user.limits == users.settings.tiers["free"]
    assert users.authenticate(first.access_token).id == first.user.id
    again = sign_in(users)
    assert again.user.id == first.user.id
    # A second person with the same local part gets a different, unique handle.
    other = sign_in(users, email="ana.bell@example.org")
    assert other.user.handle.startswith("ana_bell_") and other.user.id != first.user.id


def test_the_first_account_owns_the_instance(users: Accounts) -> None:
    """The first sign-up on a fresh instance is its admin (as on PeerTube); later ones are
    not, and neither is the first account signing in again."""
    first = sign_in(users, email="owner@example.com").user
    second = sign_in(users).user
    assert (first.role, second.role) == (Role.ADMIN, Role.USER)
    assert sign_in(users, email="owner@example.com").user.role is Role.ADMIN
    # The owner can do what admins do, at once, without `vidray admin`.
    assert users.set_tier(actor_id=first.id, user_id=second.id, tier=Tier.PRO).tier is Tier.PRO
    with pytest.raises(Forbidden):
        users.set_tier(actor_id=second.id, user_id=first.id, tier=Tier.FREE)


def test_first_sign_ups_racing_make_exactly_one_admin(users: Accounts) -> None:
    """Eight people verify their first codes at the same moment on a fresh instance: one
    of them, and only one, becomes the admin."""
    emails = [f"racer{i}@example.com" for i in range(8)]
    codes: dict[str, str] = {}
    for email in emails:
        users.request_otp(email=email, ip="10.0.0.1")
        codes[email] = latest_code(users.settings.outbox_dir, email)
    start = Barrier(len(emails))

    def verify(email: str) -> Role:
        start.wait()  # release every verification together
        return users.verify_otp(email=email, code=codes[email], ip="10.0.0.1").user.role

    with ThreadPoolExecutor(len(emails)) as pool:
        roles = list(pool.map(verify, emails))
    assert sorted(roles) == [Role.ADMIN] + [Role.USER] * 7
    with users.sessions() as session:
        stored = session.scalars(select(User.role).where(User.email.in_(emails))).all()
    assert sorted(stored) == [Role.ADMIN] + [Role.USER] * 7


def test_phone_sign_up_validates_e164(users: Accounts) -> None:
    users.request_otp(phone="+1 (415) 555-0123", ip="10.0.0.1")
    session = users.verify_otp(
        phone=PHONE, code=latest_code(users.settings.outbox_dir, PHONE), ip="10.0.0.1"
    )
    assert session.user.phone == PHONE
    assert PHONE[1:] not in session.user.handle
    for bad in ("4155550123", "+0123456789", "+1415555012345678", "+1-800-FLOWERS"):
        with pytest.raises(InvalidInput, match="phone"):
            users.request_otp(phone=bad, ip="10.0.0.1")
    with pytest.raises(InvalidInput):
        users.request_otp(email=EMAIL, phone=PHONE, ip="10.0.0.1")


def test_sixth_try_is_refused_even_with_the_right_code(users: Accounts) -> None:
    users.request_otp(email=EMAIL, ip="10.0.0.1")
    code = latest_code(users.settings.outbox_dir, EMAIL)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            users.verify_otp(email=EMAIL, code=wrong(code), ip="10.0.0.1")
    with pytest.raises(RateLimited, match="request a new code"):
        users.verify_otp(email=EMAIL, code=code, ip="10.0.0.1")
    with pytest.raises(RateLimited):  # the code is gone for good
        users.verify_otp(email=EMAIL, code=code, ip="10.0.0.1")
    assert sign_in(users).user.email == EMAIL  # a new code works


def test_code_is_single_use_even_when_raced(users: Accounts) -> None:
    users.request_otp(email=EMAIL, ip="10.0.0.1")
    code = latest_code(users.settings.outbox_dir, EMAIL)

    def attempt(_: int) -> str:
        try:
            return users.verify_otp(email=EMAIL, code=code, ip="10.0.0.1").user.id
        except Unauthenticated:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert results.count("refused") == 3, results


def test_expired_code_is_refused(users: Accounts, clock: FakeClock) -> None:
    users.request_otp(email=EMAIL, ip="10.0.0.1")
    code = latest_code(users.settings.outbox_dir, EMAIL)
    clock.advance(users.settings.otp_ttl_s + 1)
    with pytest.raises(Unauthenticated, match="expired"):
        users.verify_otp(email=EMAIL, code=code, ip="10.0.0.1")


def test_known_and_unknown_accounts_get_the_same_answers(users: Accounts) -> None:
    sign_in(users)  # EMAIL now has an account; nobody@ does not
    answers = {}
    for email in (EMAIL, "nobody@example.com"):
        assert users.request_otp(email=email, ip="10.0.0.2") is None
        with pytest.raises(Unauthenticated) as code_error:
            users.verify_otp(email=email, code="000000", ip="10.0.0.2")
        with pytest.raises(Unauthenticated) as password_error:
            users.login(identifier=email, password="guess-guess-guess", ip="10.0.0.2")
        answers[email] = (str(code_error.value), str(password_error.value))
    assert answers[EMAIL] == answers["nobody@example.com"]


def test_code_requests_are_limited_per_contact_and_per_address(make_users: MakeUsers) -> None:
    users = make_users(RateLimits(otp_requests_per_contact=3, otp_requests_per_ip=5))
    for _ in range(3):
        users.request_otp(email=EMAIL, ip="10.0.0.3")
    with pytest.raises(RateLimited) as limited:
        users.request_otp(email=EMAIL, ip="10.0.0.3")
    assert 0 < limited.value.retry_after <= 3600
    users.request_otp(email="b@example.com", ip="10.0.0.3")
    with pytest.raises(RateLimited, match="network"):
        users.request_otp(email="c@example.com", ip="10.0.0.3")
    users.request_otp(email="c@example.com", ip="10.0.0.4")


def test_account_locks_after_repeated_failures(make_users: MakeUsers, clock: FakeClock) -> None:
    users = make_users(RateLimits(failures_per_contact=10))
    for round_ in range(2):
        users.request_otp(email=EMAIL, ip=f"10.1.0.{round_}")
        code = latest_code(users.settings.outbox_dir, EMAIL)
        for _ in range(5):
            with pytest.raises(Unauthenticated):
                users.verify_otp(email=EMAIL, code=wrong(code), ip=f"10.1.0.{round_}")
    users.request_otp(email=EMAIL, ip="10.1.0.9")
    code = latest_code(users.settings.outbox_dir, EMAIL)
    # Locked for the account, from any address, with the right code, and for passwords.
    with pytest.raises(RateLimited, match="locked"):
        users.verify_otp(email=EMAIL, code=code, ip="10.1.0.9")
    with pytest.raises(RateLimited, match="locked"):
        users.login(identifier=EMAIL, password="whatever-it-is", ip="10.1.0.9")


def test_one_address_guessing_across_many_accounts_is_locked_out(
    make_users: MakeUsers,
) -> None:
    users = make_users(RateLimits(failures_per_ip=6))
    attacker, victims = "10.2.0.1", [f"victim{n}@example.com" for n in range(4)]
    # Two wrong codes and one wrong password per account: no account reaches its own
    # limit, but the address does.
    for victim in victims[:2]:
        users.request_otp(email=victim, ip="10.2.0.9")
        code = latest_code(users.settings.outbox_dir, victim)
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                users.verify_otp(email=victim, code=wrong(code), ip=attacker)
        with pytest.raises(Unauthenticated):
            users.login(identifier=victim, password="guess-guess-guess", ip=attacker)
    users.request_otp(email=victims[2], ip="10.2.0.9")
    code = latest_code(users.settings.outbox_dir, victims[2])
    with pytest.raises(RateLimited, match="locked"):  # even the right code, from there
        users.verify_otp(email=victims[2], code=code, ip=attacker)
    with pytest.raises(RateLimited, match="locked"):
        users.login(identifier=victims[3], password="guess-guess-guess", ip=attacker)
    # The accounts themselves are not locked: their owners sign in from elsewhere.
    assert users.verify_otp(email=victims[2], code=code, ip="10.2.0.9").user.email == victims[2]


def test_password_login(users: Accounts) -> None:
    user = sign_in(users).user
    with pytest.raises(InvalidInput, match="password"):
        users.set_password(user_id=user.id, password="short")
    users.set_password(user_id=user.id, password="correct horse battery")
    session = users.login(identifier=EMAIL.upper(), password="correct horse battery", ip="10.0.0.1")
    assert session.user.id == user.id
    with pytest.raises(Unauthenticated):
        users.login(identifier=EMAIL, password="correct horse battery!", ip="10.0.0.1")
    with pytest.raises(Unauthenticated, match="current password"):
        users.set_password(user_id=user.id, password="another long one", current_password="no")
    users.set_password(
        user_id=user.id, password="another long one", current_password="correct horse battery"
    )
    assert users.login(identifier=EMAIL, password="another long one", ip="10.0.0.1")


def test_refresh_rotates_and_reuse_revokes_the_family(users: Accounts, clock: FakeClock) -> None:
    first = sign_in(users)
    second = users.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    # A retry within the grace window (the response was lost) gets the same new token.
    retry = users.refresh(first.refresh_token)
    assert retry.refresh_token == second.refresh_token
    third = users.refresh(second.refresh_token)
    clock.advance(users.settings.refresh_grace_s + 1)
    # The old token comes back later: someone copied it. The whole sign-in ends.
    with pytest.raises(Unauthenticated, match="already used"):
        users.refresh(first.refresh_token)
    with pytest.raises(Unauthenticated):
        users.refresh(third.refresh_token)
    with pytest.raises(Unauthenticated):
        users.authenticate(third.access_token)
    with pytest.raises(Unauthenticated):  # a refresh token is not an access token
        users.authenticate(sign_in(users).refresh_token)


def test_access_token_expires_after_fifteen_minutes(users: Accounts, clock: FakeClock) -> None:
    session = sign_in(users)
    assert session.expires_in == 900
    clock.advance(899)
    users.authenticate(session.access_token)
    clock.advance(1)
    with pytest.raises(Unauthenticated, match="expired"):
        users.authenticate(session.access_token)
    assert users.authenticate(users.refresh(session.refresh_token).access_token)


def test_logout_and_logout_everywhere(users: Accounts) -> None:
    laptop, phone, tablet = sign_in(users), sign_in(users), sign_in(users)
    users.logout(laptop.access_token)
    for token in (laptop.access_token,):
        with pytest.raises(Unauthenticated):
            users.authenticate(token)
    with pytest.raises(Unauthenticated):
        users.refresh(laptop.refresh_token)
    users.authenticate(phone.access_token)
    users.logout(phone.access_token, everywhere=True)
    for session in (phone, tablet):
        with pytest.raises(Unauthenticated):
            users.authenticate(session.access_token)
        with pytest.raises(Unauthenticated):
            users.refresh(session.refresh_token)
    assert users.authenticate(sign_in(users).access_token).email == EMAIL


def test_admin_sets_tier_and_suspends(users: Accounts) -> None:
    admin = sign_in(users, email="admin@example.com").user
    member = sign_in(users)
    with pytest.raises(Forbidden):
        users.set_tier(actor_id=member.user.id, user_id=member.user.id, tier=Tier.BUSINESS)
    assert admin.role is Role.ADMIN  # the instance's first account runs it
    upgraded = users.set_tier(actor_id=admin.id, user_id=member.user.id, tier=Tier.PRO)
    assert upgraded.tier is Tier.PRO and upgraded.limits.private_videos
    assert users.authenticate(member.access_token).tier is Tier.PRO
    users.suspend(actor_id=admin.id, user_id=member.user.id)
    with pytest.raises(Forbidden, match="suspended"):
        users.authenticate(member.access_token)
    with pytest.raises(Forbidden):
        sign_in(users)
    users.suspend(actor_id=admin.id, user_id=member.user.id, suspended=False)
    assert users.authenticate(sign_in(users).access_token).suspended is False


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_profile_update_with_unique_handle_and_avatar(users: Accounts, tmp_path: Path) -> None:
    ana = sign_in(users).user
    bob = sign_in(users, email="bob@example.com").user
    view = users.update_profile(
        user_id=ana.id, display_name=" Ana Bell ", handle="Ana", bio="Films\nand cats"
    )
    assert (view.display_name, view.handle, view.bio) == ("Ana Bell", "ana", "Films\nand cats")
    with pytest.raises(InvalidInput, match="taken"):
        users.update_profile(user_id=bob.id, handle="ana")
    with pytest.raises(InvalidInput, match="handle"):
        users.update_profile(user_id=bob.id, handle="no spaces!")
    view = users.update_profile(user_id=ana.id, avatar=_png(640, 480))
    assert view.avatar_key == f"img/avatars/{ana.id}.jpg"
    stored = users.store.get_bytes(view.avatar_key)
    with Image.open(io.BytesIO(stored)) as avatar:
        assert (avatar.format, avatar.size) == ("JPEG", (256, 256))
    for junk in (b"<html>not an image</html>", _png(64, 64)[:60], b"GIF89a" + b"\0" * 20):
        with pytest.raises(InvalidInput, match="avatar"):
            users.update_profile(user_id=ana.id, avatar=junk)
