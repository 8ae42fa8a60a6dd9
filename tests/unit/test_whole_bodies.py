"""wsgi.WholeBodies: every body answered as one bytes in a list, the app's iterable closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tasktracker.wsgi import WholeBodies


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        self.closed = True


def test_a_body_in_chunks_is_answered_whole_and_the_iterable_closed():
    body = Chunks(b'{"items": [', b"1, 2", b"]}")
    started: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Chunks:
        start_response("200 OK", [("Content-Type", "application/json")])
        return body

    answered = WholeBodies(app)({}, lambda *args: started.append(args))
    assert answered == [b'{"items": [1, 2]}']
    assert body.closed
    assert started == [("200 OK", [("Content-Type", "application/json")])]


def test_an_empty_body_is_one_empty_bytes():
    assert WholeBodies(lambda environ, start: iter(()))({}, lambda *args: None) == [b""]
