"""Document ids as the API sees them: 24-hex strings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from bson import ObjectId
from bson.errors import InvalidId

T = TypeVar("T")

# SecantusDB answers an `_id $in` of more than about 50 ids far slower than several of 50.
IN_CHUNK = 50


def in_chunks(items: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, for `_id $in` queries."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def object_id_or_none(value: str) -> ObjectId | None:
    """Parse a 24-hex id; None when it is malformed (callers answer 'not found')."""
    if not isinstance(value, str):
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
