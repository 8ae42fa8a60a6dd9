"""RFC 9457 problem responses, as the tests expect them."""

from __future__ import annotations

import json
from typing import Any

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Check that a Flask test response is an RFC 9457 problem with this status (type, a title,
    a detail, as application/problem+json); answer its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = json.loads(response.get_data(as_text=True))
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body
