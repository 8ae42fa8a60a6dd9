"""Password hashing: argon2id for new hashes, bcrypt hashes from the original still log in."""

from __future__ import annotations

import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasktracker.adapters.passwords import PasswordHasher

FAST = {"time_cost": 1, "memory_cost_kib": 8192}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher():
    return PasswordHasher(**FAST)


@pytest.fixture(scope="module")
def argon2_hash(hasher):
    return hasher.hash(PASSWORD)


def legacy_bcrypt_hash(password: str, prefix: bytes = b"2b") -> str:
    """A hash as the original project stored it (bcrypt truncates at 72 bytes)."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4, prefix=prefix)).decode()


def test_new_hashes_are_argon2id_and_verify(hasher, argon2_hash):
    assert argon2_hash.startswith("$argon2id$")
    assert PASSWORD not in argon2_hash
    assert hasher.verify(argon2_hash, PASSWORD) is True


def test_the_same_password_hashes_differently_each_time(hasher, argon2_hash):
    other = hasher.hash(PASSWORD)
    assert other != argon2_hash
    assert hasher.verify(other, PASSWORD)


@pytest.mark.parametrize(
    "attempt",
    ["", "correct horse battery stapl", "Correct horse battery staple", PASSWORD + " "],
)
def test_a_wrong_password_fails(hasher, argon2_hash, attempt):
    assert hasher.verify(argon2_hash, attempt) is False


def test_an_unknown_account_never_verifies(hasher):
    assert hasher.verify(None, PASSWORD) is False
    assert hasher.verify(None, "not-a-real-password") is False


def test_a_hash_with_current_parameters_needs_no_rehash(hasher, argon2_hash):
    assert hasher.needs_rehash(argon2_hash) is False


def test_a_hash_with_weaker_parameters_is_rehashed(argon2_hash):
    stronger = PasswordHasher(time_cost=2, memory_cost_kib=8192)
    assert stronger.verify(argon2_hash, PASSWORD)
    assert stronger.needs_rehash(argon2_hash) is True


def test_the_default_parameters_are_owasps_argon2id_recommendation():
    fresh = PasswordHasher().hash(PASSWORD)
    assert fresh.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_hash_with_other_parallelism_is_rehashed(argon2_hash):
    four_lanes = PasswordHasher(**FAST, parallelism=4).hash(PASSWORD)
    assert PasswordHasher(**FAST).verify(four_lanes, PASSWORD)
    assert PasswordHasher(**FAST).needs_rehash(four_lanes) is True


@pytest.mark.parametrize("prefix", [b"2b", b"2a"])
def test_an_original_bcrypt_hash_verifies_and_is_flagged_for_rehash(hasher, prefix):
    legacy = legacy_bcrypt_hash(PASSWORD, prefix)
    assert hasher.verify(legacy, PASSWORD) is True
    assert hasher.verify(legacy, "wrong password") is False
    assert hasher.needs_rehash(legacy) is True


def test_an_original_bcrypt_hash_of_a_long_password_still_verifies(hasher):
    # bcrypt only ever looked at the first 72 bytes; users typed the whole thing.
    long_password = "ü" * 50  # 100 bytes in UTF-8
    legacy = legacy_bcrypt_hash(long_password)
    assert hasher.verify(legacy, long_password) is True
    assert hasher.verify(legacy, "x" + long_password) is False


def test_a_rehash_after_a_bcrypt_login_is_argon2id_and_current(hasher):
    legacy = legacy_bcrypt_hash(PASSWORD)
    assert hasher.verify(legacy, PASSWORD)
    fresh = hasher.hash(PASSWORD)
    assert fresh.startswith("$argon2id$")
    assert hasher.verify(fresh, PASSWORD)
    assert not hasher.needs_rehash(fresh)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        PASSWORD,  # a plaintext password left in the database by the prototype
        "$argon2id$",
        "$argon2id$v=19$m=8192,t=1,p=4$xxx$yyy",
        "$2b$",
        "$2b$12$short",
        "$2y$04$" + "a" * 53,
        "$pbkdf2-sha256$29000$abc$def",
    ],
)
def test_a_garbage_hash_is_a_failed_login_not_an_error(hasher, stored):
    assert hasher.verify(stored, PASSWORD) is False


@settings(max_examples=50, deadline=None)
@given(st.text(), st.text(max_size=50))
def test_any_stored_text_either_verifies_or_fails_cleanly(stored, attempt):
    result = PasswordHasher(**FAST).verify(stored, attempt)
    assert result is False


@pytest.mark.parametrize("attempt", ["\ud800", "abc\udfffdef", "\x00" * 8])
def test_an_unencodable_or_odd_password_fails_cleanly(hasher, argon2_hash, attempt):
    # Login bodies are JSON, which can carry lone surrogates and NULs.
    assert hasher.verify(argon2_hash, attempt) is False
    assert hasher.verify(legacy_bcrypt_hash(PASSWORD), attempt) is False
    assert hasher.verify(None, attempt) is False
