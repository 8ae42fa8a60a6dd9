"""Pure pieces of messaging: event encoding, retry backoff, letters, mail settings."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email.policy import default

import pytest

from tasktracker.adapters.mailer import FileMailer, Letter
from tasktracker.agent.consumer import RetryPolicy
from tasktracker.agent.letters import LetterError, template_environment
from tasktracker.domain.events import Event, EventType, MalformedEvent, parse_event
from tasktracker.endpoints import SmtpEndpoint
from tasktracker.settings import SettingsError, load_settings

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_an_event_survives_the_round_trip():
    event = Event(EventType.USER_REGISTERED, {"username": "ann"}, NOW, correlation_id="req-1")
    message = event.to_message()
    assert set(message) == {"event_id", "type", "occurred_at", "correlation_id", "payload"}
    assert parse_event(json.dumps(message).encode()) == event


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"event_id": "1", "type": "user.registered"}',
        b'{"event_id": "1", "type": "no.such", "occurred_at": "2026-01-01T00:00:00+00:00",'
        b' "payload": {}}',
        b'{"event_id": "", "type": "user.registered", "occurred_at": "2026-01-01T00:00:00",'
        b' "payload": {}}',
        b'{"event_id": "1", "type": "user.registered", "occurred_at": "yesterday", "payload": {}}',
        b'{"event_id": "1", "type": "user.registered", "occurred_at": "2026-01-01T00:00:00",'
        b' "payload": []}',
    ],
)
def test_anything_else_is_a_malformed_event(body):
    with pytest.raises(MalformedEvent):
        parse_event(body)


def test_retry_backoff_doubles_up_to_a_cap():
    policy = RetryPolicy(max_attempts=6, first_delay=0.5, max_delay=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_html_letters_escape_what_users_typed():
    env = template_environment()
    html = env.get_template("welcome.html.j2").render(
        username="<script>x</script>", email="a@example.com", subject="s"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = env.get_template("welcome.txt.j2").render(username="Ann", email="a@example.com")
    assert text.startswith("Hello Ann,")


def test_a_welcome_letter_needs_a_username():
    from tasktracker.agent.letters import LetterWriter

    writer = LetterWriter(resets=None, public_url="http://x")  # type: ignore[arg-type]
    with pytest.raises(LetterError):
        writer.welcome(Event(EventType.USER_REGISTERED, {"email": "a@example.com"}, NOW))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail:1025", SmtpEndpoint("mail", 1025, False, None, None)),
        ("smtps://u%40x:p%3Aw@mail", SmtpEndpoint("mail", 465, True, "u@x", "p:w")),
        ("smtp://mail", SmtpEndpoint("mail", 25, False, None, None)),
    ],
)
def test_smtp_urls(url, expected):
    assert SmtpEndpoint.parse(url) == expected


def test_a_bad_smtp_url_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="SMTP_URL"):
        load_settings(SMTP_URL="http://mail", DATA_DIR=tmp_path)
    with pytest.raises(SettingsError, match="AMQP_URL"):
        load_settings(AMQP_URL="redis://x", DATA_DIR=tmp_path)


def test_the_file_mailer_writes_one_eml_per_letter(tmp_path):
    mailer = FileMailer(tmp_path / "mail", "TaskTracker <no-reply@example.com>")
    letter = Letter("ann@example.com", "Hi", "Hello Ann", "<p>Hello Ann</p>", "<e1.welcome@tt>")
    mailer.send(letter)
    mailer.send(letter)  # a repeat overwrites the same file
    [path] = (tmp_path / "mail").iterdir()
    assert path.name == "e1.welcome.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert message["To"] == "ann@example.com"
    assert message.get_body(("plain",)).get_content().strip() == "Hello Ann"
