"""Verified access tokens are remembered by their exact text until they expire."""

from __future__ import annotations

from tasktracker.api.security import VerifiedTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def access(exp: float, sub: str = "u1") -> dict:
    return {"type": "access", "sub": sub, "sid": "s1", "exp": exp}


def test_a_verified_token_is_remembered_until_it_expires():
    clock = Clock()
    tokens = VerifiedTokens(clock=clock)
    tokens.put("t1", access(exp=1_060))
    assert tokens.get("t1") == access(exp=1_060)
    clock.now = 1_059.9
    assert tokens.get("t1") is not None
    clock.now = 1_060  # expired at exp, as PyJWT decides (no leeway)
    assert tokens.get("t1") is None
    clock.now = 1_000
    assert tokens.get("t1") is None  # forgotten, not just hidden


def test_only_access_tokens_with_an_expiry_are_remembered():
    tokens = VerifiedTokens(clock=Clock())
    tokens.put("refresh", {**access(exp=2_000), "type": "refresh"})
    tokens.put("no-exp", {"type": "access", "sub": "u1"})
    assert tokens.get("refresh") is None and tokens.get("no-exp") is None


def test_callers_get_a_copy_and_the_oldest_goes_first_when_full():
    tokens = VerifiedTokens(size=2, clock=Clock())
    tokens.put("a", access(exp=2_000, sub="a"))
    claims = tokens.get("a")
    assert claims is not None
    claims["sub"] = "mallory"
    assert tokens.get("a") == access(exp=2_000, sub="a")
    tokens.put("b", access(exp=2_000, sub="b"))
    tokens.put("c", access(exp=2_000, sub="c"))
    assert tokens.get("a") is None
    assert tokens.get("b") is not None and tokens.get("c") is not None
