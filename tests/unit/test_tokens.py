"""The personal access token format (domain/tokens.py): `ttp_` + 30 random base62 characters +
a 6-character base62 CRC32 of them, recognisable by a secret scanner, checked without a lookup,
kept as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import re
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasktracker.domain.errors import Forbidden, InvalidInput
from tasktracker.domain.tokens import (
    BASE62,
    TOKEN_LENGTH,
    Scope,
    base62,
    checksum,
    digest,
    hint,
    looks_like_token,
    new_token,
    parse_scopes,
    require_grantable,
    validate_days,
    validate_name,
    well_formed,
)
from tasktracker.domain.users import Role, User
from tests.fakes import T0

# What a secret scanner would be given (GitHub's token patterns are written the same way).
SCANNER_PATTERN = re.compile(r"\bttp_[0-9A-Za-z]{36}\b")


def user(role: Role) -> User:
    return User("u1", "u", "u@example.com", None, role, True, T0, T0)


def test_a_token_has_the_prefix_36_base62_characters_and_a_valid_checksum():
    token = new_token()
    assert len(token) == TOKEN_LENGTH == 40
    assert SCANNER_PATTERN.fullmatch(token)
    random_part, check = token[4:34], token[34:]
    assert check == base62(zlib.crc32(random_part.encode()), 6)
    assert well_formed(token) and looks_like_token(token)


def test_tokens_do_not_repeat():
    assert len({new_token() for _ in range(2000)}) == 2000


def test_a_scanner_finds_a_token_in_text():
    token = new_token()
    leaked = f"export TT_TOKEN={token}\n# deploy"
    assert SCANNER_PATTERN.findall(leaked) == [token]


def test_base62_pads_to_the_width_and_fits_any_crc32():
    assert base62(0, 6) == "000000"
    assert base62(61, 6) == "00000z"
    assert base62(62, 6) == "000010"
    assert len(base62(2**32 - 1, 6)) == 6
    assert checksum("a" * 30) == base62(zlib.crc32(b"a" * 30), 6)


@given(st.integers(min_value=0, max_value=39), st.sampled_from(BASE62))
def test_changing_any_one_character_breaks_the_token(position, replacement):
    token = new_token()
    if token[position] == replacement:
        return
    changed = token[:position] + replacement + token[position + 1 :]
    assert not well_formed(changed)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ttp_",
        "ghp_" + "a" * 36,
        "ttp_" + "a" * 35,
        "ttp_" + "a" * 37,
        "ttp_" + "-" * 36,
        "ttp_" + "é" * 36,
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
    ],
)
def test_malformed_values_are_not_well_formed(value):
    assert not well_formed(value)


def test_only_the_prefix_routes_a_bearer_to_the_token_check():
    assert looks_like_token("ttp_anything")
    assert not looks_like_token("eyJhbGciOiJIUzI1NiJ9.e30.sig")


def test_the_digest_is_the_sha256_hex_and_the_hint_shows_no_random_part():
    token = new_token()
    assert digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert digest(token) != digest(new_token())
    assert hint(token) == f"ttp_...{token[-4:]}"
    assert token[4:34] not in hint(token)


def test_scopes_are_parsed_and_checked():
    assert parse_scopes(["tasks:read", "tasks:read", "admin"]) == {Scope.TASKS_READ, Scope.ADMIN}
    with pytest.raises(InvalidInput, match="at least one"):
        parse_scopes([])
    with pytest.raises(InvalidInput, match="tasks:delete"):
        parse_scopes(["tasks:read", "tasks:delete"])


def test_only_an_admin_may_hold_the_admin_scope():
    require_grantable(user(Role.ADMIN), frozenset({Scope.ADMIN}))
    require_grantable(user(Role.MEMBER), frozenset(set(Scope) - {Scope.ADMIN}))
    with pytest.raises(Forbidden, match="admin"):
        require_grantable(user(Role.MEMBER), frozenset({Scope.TASKS_READ, Scope.ADMIN}))


@pytest.mark.parametrize("days", [0, -1, 366])
def test_a_lifetime_is_1_to_365_days(days):
    assert validate_days(1) == 1 and validate_days(365) == 365
    with pytest.raises(InvalidInput):
        validate_days(days)


def test_a_name_is_trimmed_and_not_blank():
    assert validate_name("  ci bot ") == "ci bot"
    for name in ("", "   ", "x" * 101):
        with pytest.raises(InvalidInput):
            validate_name(name)
