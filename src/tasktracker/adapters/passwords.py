"""Password hashing: argon2id for new hashes (OWASP's parameters unless set otherwise). Hashes
with other parameters, and bcrypt hashes from the original, are verified and flagged for
re-hashing on the next successful login."""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class PasswordHasher:
    def __init__(
        self, *, time_cost: int = 2, memory_cost_kib: int = 19456, parallelism: int = 1
    ) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        # Verified against when the account does not exist, so both failures cost the same.
        self._dummy_hash = self._argon2.hash("not-a-real-password")

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            self._verify_argon2(self._dummy_hash, password)
            return False
        if password_hash.startswith(_BCRYPT_PREFIXES):
            return self._verify_bcrypt(password_hash, password)
        return self._verify_argon2(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        if password_hash.startswith(_BCRYPT_PREFIXES):
            return True
        return self._argon2.check_needs_rehash(password_hash)

    def _verify_argon2(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            # UnicodeEncodeError: a lone surrogate in the password or a non-ASCII stored hash.
            return False

    @staticmethod
    def _verify_bcrypt(password_hash: str, password: str) -> bool:
        try:
            return bcrypt.checkpw(password.encode()[:72], password_hash.encode())
        except ValueError:
            return False
