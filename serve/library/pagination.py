"""Relay-style keyset pagination: opaque cursors that hold the last row's sort key.

A page never repeats or skips a row when others are added meanwhile, which offset
pagination cannot promise for a library that grows while people scroll.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_

from cluster.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursors: tuple[str, ...]  # one opaque cursor per item
    has_next: bool

    @classmethod
    def of(
        cls, rows: Sequence[Any], *, first: int, keys: Sequence[Any], view: Callable[[Any], T]
    ) -> Page[T]:
        """A page from up to `first + 1` rows fetched in `keys` order: the extra row only
        tells that there is a next page."""
        shown = rows[:first]
        return cls(
            items=tuple(view(row) for row in shown),
            cursors=tuple(position(row, keys) for row in shown),
            has_next=len(rows) > first,
        )

    def with_cursors(self) -> Iterator[tuple[T, str]]:
        return zip(self.items, self.cursors, strict=True)


@dataclass
class _Cursor:
    """Keyset position: the sort key of the last item seen, then its id."""

    values: list[Any] = field(default_factory=list)

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.values).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, *, arity: int) -> _Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            values = None
        if not isinstance(values, list) or len(values) != arity:
            raise InvalidInput("after", "is not a cursor from this list: start from the top")
        return cls(values)


def page_size(first: int) -> int:
    if first < 1 or first > MAX_PAGE:
        raise InvalidInput("first", f"must be between 1 and {MAX_PAGE}")
    return first


def position(row: Any, keys: Sequence[Any]) -> str:
    values = []
    for key in keys:
        value = getattr(row, key.key)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return _Cursor(values).encode()


def past_cursor(
    query: Select[Any], keys: Sequence[Any], after: str | None, *, descending: bool
) -> Any:
    """Rows strictly past the cursor in (k1, k2, ..., id) order: keyset pagination, so
    a page never repeats or skips a row when others are added meanwhile."""
    if after is None:
        return query
    values = _Cursor.decode(after, arity=len(keys)).values
    parsed = [
        datetime.fromisoformat(v) if k.key in ("created_at",) and isinstance(v, str) else v
        for k, v in zip(keys, values, strict=True)
    ]
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == parsed[j] for j in range(i)]
        past = key < parsed[i] if descending else key > parsed[i]
        clauses.append(and_(*equal, past))
    return query.where(or_(*clauses))
