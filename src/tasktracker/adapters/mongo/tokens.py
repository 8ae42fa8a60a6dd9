"""The access_tokens collection: personal access tokens, kept only as the SHA-256 digest of the
secret (unique: the lookup of every token request), with their owner, scopes and expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.database import Database

from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.domain.tokens import AccessToken, Scope

# An expired token stays listed (as expired) for 30 days, then MongoDB drops it.
EXPIRED_KEPT_SECONDS = 30 * 86_400

TOKEN_INDEXES = [
    IndexModel([("digest", ASCENDING)], unique=True, name="digest_unique"),
    IndexModel([("user_id", ASCENDING), ("_id", ASCENDING)], name="user"),
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=EXPIRED_KEPT_SECONDS, name="expire"),
]


def token_to_doc(token: AccessToken) -> dict[str, Any]:
    return {
        "user_id": token.user_id,
        "name": token.name,
        "scopes": sorted(str(s) for s in token.scopes),
        "digest": token.digest,
        "hint": token.hint,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


def token_from_doc(doc: dict[str, Any]) -> AccessToken:
    return AccessToken(
        id=str(doc["_id"]),
        user_id=doc["user_id"],
        name=doc["name"],
        # A scope a later version dropped is ignored rather than failing every request.
        scopes=frozenset(Scope(s) for s in doc["scopes"] if s in Scope._value2member_map_),
        digest=doc["digest"],
        hint=doc["hint"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        last_used_at=doc.get("last_used_at"),
    )


class AccessTokenRepository:
    def __init__(self, db: Database) -> None:
        self._tokens = db.access_tokens

    def add(self, token: AccessToken) -> AccessToken:
        oid = ObjectId()
        self._tokens.insert_one({"_id": oid, **token_to_doc(token)})
        token.id = str(oid)
        return token

    def by_digest(self, digest: str) -> AccessToken | None:
        doc = self._tokens.find_one({"digest": digest})
        return token_from_doc(doc) if doc else None

    def for_user(self, user_id: str) -> list[AccessToken]:
        docs = self._tokens.find({"user_id": user_id}).sort("_id", ASCENDING)
        return [token_from_doc(d) for d in docs]

    def delete(self, user_id: str, token_id: str) -> bool:
        oid = object_id_or_none(token_id)
        if oid is None:
            return False
        return self._tokens.delete_one({"_id": oid, "user_id": user_id}).deleted_count == 1

    def touch(self, token_id: str, now: datetime, stale_before: datetime) -> None:
        self._tokens.update_one(
            {
                "_id": ObjectId(token_id),
                "$or": [{"last_used_at": None}, {"last_used_at": {"$lte": stale_before}}],
            },
            {"$set": {"last_used_at": now}},
        )
