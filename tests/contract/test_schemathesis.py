"""Property-based contract test: schemathesis generates requests from /openapi.json (valid and
invalid ones) for every operation, as an admin; none may produce a server error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tasktracker.api.app import create_app

EXAMPLES_PER_OPERATION = 12


def test_no_generated_request_produces_a_server_error(api):
    app = create_app(api.container.services)
    admin = api.admin()
    api.create_task(admin, title="seed task")
    headers = {"Authorization": f"Bearer {admin.token}"}
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:
        if operation.method.upper() == "POST" and operation.path == "/api/v1/auth/logout":
            continue  # would end the admin's session for the operations that follow

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
