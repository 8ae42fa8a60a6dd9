"""Keyset pagination: the opaque cursor of the task lists and the feeds, and the (time, _id)
order of the comment and activity feeds.

A cursor is URL-safe base64 of `{"s": <the list it belongs to>, "k": <the last item's key>}`.
For a feed the key is the last item's time stamp (adapters/mongo/tasks.py `stamp`) followed by
its id. A page after it is read with two queries, each an equality prefix plus one range on the
feed's index: the items tied with the last one on the time (the `_id` range), then the later
times. A single `$or` of the two would be one query, but SecantusDB's planner scans the whole
collection for it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from tasktracker.adapters.mongo.tasks import stamp
from tasktracker.domain.errors import InvalidInput

MALFORMED = "the cursor is malformed; start again without it"
TIME_KEY_PATTERN = re.compile(r"^[0-9]{20}[0-9a-f]{24}$")
STAMP_FORMAT = "%Y%m%d%H%M%S%f"


def encode(scope: str, key: str) -> str:
    raw = json.dumps({"s": scope, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, scope: str, *, mismatch: str) -> str:
    """The key a cursor of `scope` carries; InvalidInput when it is malformed, and `mismatch`
    when it belongs to another list. The caller checks the key's shape."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, same_scope = data["k"], data["s"] == scope
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(MALFORMED) from None
    if not isinstance(key, str):
        raise InvalidInput(MALFORMED)
    if not same_scope:
        raise InvalidInput(mismatch)
    return key


# --- the (time, _id) order of a feed ----------------------------------------------------------


def time_key(at: datetime, oid: ObjectId | str) -> str:
    """A fixed-width key that sorts as (at, id) does; a naive time is taken as UTC (as a
    database handle without tz-aware codec options reads them)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return stamp(aware) + str(oid)


def parse_time_key(key: str) -> tuple[datetime, ObjectId]:
    if not TIME_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(MALFORMED)
    try:
        at = datetime.strptime(key[:20], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(MALFORMED) from None
    return at, ObjectId(key[20:])


@dataclass(frozen=True, slots=True)
class TimeOrder:
    """A feed's order: by `field` then `_id`, both ascending or both descending. `scope` names
    the feed in its cursors, so one feed's cursor is refused by another."""

    field: str
    descending: bool
    scope: str

    def spec(self) -> list[tuple[str, int]]:
        direction = DESCENDING if self.descending else ASCENDING
        return [(self.field, direction), ("_id", direction)]

    def cursor(self, doc: dict[str, Any]) -> str:
        return encode(self.scope, time_key(doc[self.field], doc["_id"]))

    def after(self, cursor: str) -> tuple[datetime, ObjectId]:
        key = decode(cursor, self.scope, mismatch="the cursor does not belong to this list")
        return parse_time_key(key)

    def page_filters(self, base: dict[str, Any], cursor: str | None) -> list[dict[str, Any]]:
        """The queries of one page, in order (exposed so tests can `explain()` them)."""
        if cursor is None:
            return [base]
        at, oid = self.after(cursor)
        beyond = "$lt" if self.descending else "$gt"
        return [{**base, self.field: at, "_id": {beyond: oid}}, {**base, self.field: {beyond: at}}]


def find_page(
    collection: Collection,
    order: TimeOrder,
    base: dict[str, Any],
    cursor: str | None,
    limit: int,
    session: ClientSession | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` documents matching `base` after `cursor` in `order`, and the cursor of the
    next page (None on the last one)."""
    docs: list[dict[str, Any]] = []
    for query in order.page_filters(base, cursor):
        wanted = limit + 1 - len(docs)
        if wanted <= 0:
            break
        docs += collection.find(query, session=session).sort(order.spec()).limit(wanted)
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (order.cursor(docs[-1]) if more and docs else None)
