"""Contacts: the email address or phone number an account signs in with."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Literal

from cluster.errors import InvalidInput

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
PHONE_PUNCTUATION = str.maketrans("", "", " -().")


@dataclass(frozen=True, slots=True)
class Contact:
    kind: Literal["email", "phone"]
    value: str


def parse_contact(*, email: str | None = None, phone: str | None = None) -> Contact:
    """Exactly one of an email address or an E.164 phone number, normalised."""
    if (email is None) == (phone is None):
        raise InvalidInput("email", "give either an email address or a phone number, not both")
    if email is not None:
        value = email.strip().lower()
        if len(value) > 254 or not EMAIL_RE.fullmatch(value):
            raise InvalidInput("email", "is not an email address such as ana@example.com")
        return Contact("email", value)
    number = (phone or "").translate(PHONE_PUNCTUATION)
    if not E164_RE.fullmatch(number):
        raise InvalidInput(
            "phone", "is not an international number: write it as +, country code, number"
        )
    return Contact("phone", number)


def contact_of(identifier: str) -> Contact:
    if "@" in identifier:
        return parse_contact(email=identifier)
    return parse_contact(phone=identifier)


def handle_base(contact: Contact) -> str:
    if contact.kind == "phone":  # a handle is public: never derive it from a number
        return "user"
    local = re.sub(r"[^a-z0-9_]", "", contact.value.split("@", 1)[0].replace(".", "_"))
    return local[:24] or "user"


def handle_suffix() -> str:
    return f"{secrets.randbelow(10**6):06d}"
