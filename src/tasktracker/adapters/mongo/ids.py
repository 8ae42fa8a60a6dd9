"""Document ids as the API sees them: 24-hex strings."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId


def object_id_or_none(value: str) -> ObjectId | None:
    """Parse a 24-hex id; None when it is malformed (callers answer 'not found')."""
    if not isinstance(value, str):
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
