"""The webhook sender and its SSRF guard against a real receiver over real sockets: signatures
that standardwebhooks verifies, what a failed attempt reports, the one deadline, redirects not
followed, answers read only so far, and every address the guard refuses (at check and at send,
with nothing sent), including a DNS answer that changes between saving a hook and sending."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tasktracker.adapters.webhook_http import (
    HostUnresolvable,
    ResolutionError,
    SendResult,
    SystemResolver,
    TargetGuard,
    TargetRefused,
    WebhookSender,
    sign,
    unix_seconds,
)
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.webhooks import EXCERPT_LIMIT, AllowList, retriable
from tests.support import webhooks as receivers
from tests.support.webhooks import Receiver

SECRET = "whsec_" + base64.b64encode(b"the current secret, 32 bytes.!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the rotated-out secret, 32 bytes").decode()
STRANGER = "whsec_" + base64.b64encode(b"nobody's secret at all, 32 byte").decode()
BODY = '{"id": "ev1", "type": "task.created", "data": {"title": "Caf\\u00e9 \u00e9"}}'
LOOPBACK = AllowList.parse("127.0.0.1")

receiver = receivers.receiver  # the fixture: a started receiver, stopped after the test


class DictResolver:
    """A resolver the test programs: host -> addresses (a missing host does not resolve). It
    stands in for the system resolver, whose answers a test cannot change."""

    def __init__(self, records: dict[str, list[str]] | None = None) -> None:
        self.records = dict(records or {})
        self.asked: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.records:
            raise ResolutionError(f"{host} does not resolve: no such host")
        return list(self.records[host])


class NoResolver:
    """For IP-literal hosts, which are checked without asking a resolver."""

    def resolve(self, host: str, port: int) -> list[str]:
        raise AssertionError(f"asked to resolve {host}")


def sender(
    allow: AllowList = LOOPBACK,
    resolver: object = None,
    timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookSender:
    guard = TargetGuard(allow, resolver or SystemResolver())  # type: ignore[arg-type]
    return WebhookSender(guard, timeout, "TaskTracker-Webhooks/test", ssl_context=ssl_context)


def post(
    via: WebhookSender, url: str, msg_id: str = "msg_1", secrets: list[str] | None = None
) -> SendResult:
    return via.post(url, BODY, msg_id, secrets or [SECRET], datetime.now(UTC))


def assert_nothing_arrived(receiver: Receiver) -> None:
    """Nothing reached the receiver before now: a delivery sent now is the first it gets."""
    assert post(sender(), receiver.url, "msg_marker").status == 200
    assert [r.webhook_id for r in receiver.wait_for(1)] == ["msg_marker"]


# --- signatures --------------------------------------------------------------------------------


def test_a_delivery_verifies_and_carries_its_webhook_id(receiver):
    receiver.secrets = [SECRET]
    now = datetime.now(UTC)
    result = sender().post(receiver.url, BODY, "msg_abc", [SECRET], now)

    assert result.status == 200 and result.succeeded
    assert (result.error, result.refused) == (None, False)
    assert result.excerpt == "OK"
    assert 0 <= result.duration_ms < 5000
    (got,) = receiver.wait_for(1)
    assert got.verified and got.verified_by == (SECRET,)
    assert got.webhook_id == "msg_abc"
    assert (got.method, got.path) == ("POST", "/hook")
    assert got.body == BODY.encode()
    assert got.json["data"]["title"] == "Café é"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "TaskTracker-Webhooks/test"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(SECRET).verify(got.body, got.headers)["id"] == "ev1"


def test_two_secrets_both_sign_and_each_verifies_alone(receiver):
    receiver.secrets = [SECRET, OLD_SECRET, STRANGER]
    assert post(sender(), receiver.url, secrets=[SECRET, OLD_SECRET]).status == 200

    (got,) = receiver.wait_for(1)
    assert got.verified_by == (SECRET, OLD_SECRET)
    assert len(got.signatures) == 2 and all(s.startswith("v1,") for s in got.signatures)
    for secret, signature in zip([SECRET, OLD_SECRET], got.signatures, strict=True):
        alone = {**got.headers, "webhook-signature": signature}
        Webhook(secret).verify(got.body, alone)
    with pytest.raises(WebhookVerificationError):
        Webhook(STRANGER).verify(got.body, got.headers)


def test_a_tampered_delivery_does_not_verify(receiver):
    receiver.secrets = [SECRET]
    signature = sign([SECRET], "msg_1", datetime.now(UTC), BODY)
    assert post(sender(), receiver.url, secrets=[STRANGER]).status == 200

    (got,) = receiver.wait_for(1)
    assert not got.verified and got.verified_by == ()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + " ", {**got.headers, "webhook-signature": signature})


def test_the_signature_is_over_the_utc_instant_in_whole_seconds():
    local = datetime(2026, 3, 4, 12, 0, 7, 900_000, tzinfo=timezone(timedelta(hours=2)))
    assert unix_seconds(local) == int(datetime(2026, 3, 4, 10, 0, 7, tzinfo=UTC).timestamp())
    assert unix_seconds(local.replace(tzinfo=None)) == unix_seconds(local) + 7200  # naive: UTC
    header = sign([SECRET], "msg_1", local, BODY)
    at = datetime.fromtimestamp(unix_seconds(local), tz=UTC)
    assert header == Webhook(SECRET).sign("msg_1", at, BODY)


def test_signing_needs_a_secret():
    with pytest.raises(ValueError, match="no secret"):
        sign([], "msg_1", datetime.now(UTC), BODY)


def test_an_old_timestamp_verifies_only_when_the_receiver_ignores_the_clock(receiver):
    receiver.secrets = [SECRET]
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    sender().post(receiver.url, BODY, "msg_1", [SECRET], two_hours_ago)
    receiver.check_timestamp = False
    sender().post(receiver.url, BODY, "msg_2", [SECRET], two_hours_ago)

    strict, lenient = receiver.wait_for(2)
    assert (strict.verified, lenient.verified) == (False, True)


# --- what an attempt reports -------------------------------------------------------------------


def test_a_500_is_reported_with_its_excerpt(receiver):
    receiver.answer(500, body="database on fire")
    result = post(sender(), receiver.url)

    assert (result.status, result.excerpt, result.error) == (500, "database on fire", None)
    assert not result.succeeded and not result.refused and retriable(result.status)


def test_queued_answers_come_first_then_the_default(receiver):
    receiver.answer(500, 503)
    statuses = [post(sender(), receiver.url, f"msg_{i}").status for i in range(3)]

    assert statuses == [500, 503, 200]
    assert [r.status for r in receiver.wait_for(3)] == [500, 503, 200]


def test_an_answer_without_a_body_has_no_excerpt(receiver):
    receiver.answer(204, body=b"")
    result = post(sender(), receiver.url)
    assert (result.status, result.excerpt) == (204, None)


def test_a_slow_receiver_times_out_within_the_timeout(receiver):
    receiver.answer(200, delay=30)
    started = time.monotonic()
    result = post(sender(timeout=0.5), receiver.url)
    elapsed = time.monotonic() - started

    assert result.status is None and not result.refused
    assert result.error is not None and result.error.startswith("timeout:")
    assert 0.4 < elapsed < 2.0
    assert 400 <= result.duration_ms < 2000
    assert retriable(result.status)


@pytest.fixture
def dribbler() -> Iterator[int]:
    """A server that answers with a status line and then a header line every 0.1 s: no socket
    read ever waits long, only the whole answer takes long."""
    done = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not done.wait(0.1):
                    conn.sendall(b"X-Slow: yes\r\n")
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    done.set()
    listener.close()
    thread.join(5)


def test_a_dribbling_receiver_is_cut_at_the_total_timeout(dribbler):
    started = time.monotonic()
    result = post(sender(timeout=1.0), f"http://127.0.0.1:{dribbler}/hook")
    elapsed = time.monotonic() - started

    assert result.status is None
    assert result.error is not None and result.error.startswith("timeout:")
    assert elapsed < 2.5


def test_a_stopped_receiver_is_a_connection_error_then_it_is_back(receiver):
    receiver.stop()
    result = post(sender(), receiver.url)
    assert result.status is None and not result.refused and retriable(result.status)
    assert result.error is not None and result.error.startswith("connection:")
    assert "refused" in result.error.lower()

    receiver.start()
    assert post(sender(), receiver.url, "msg_2").status == 200
    assert [r.webhook_id for r in receiver.wait_for(1)] == ["msg_2"]


def test_a_redirect_is_not_followed(receiver):
    with Receiver() as elsewhere:
        receiver.answer(302, headers={"Location": elsewhere.url}, body="moved")
        result = post(sender(), receiver.url)

        assert (result.status, result.excerpt) == (302, "moved")
        assert len(receiver.wait_for(1)) == 1
        assert elsewhere.count == 0


def test_a_huge_answer_is_cut_to_the_excerpt_promptly(receiver):
    receiver.answer(200, body=b"x" * (32 * 1024 * 1024))
    started = time.monotonic()
    result = post(sender(), receiver.url)

    assert time.monotonic() - started < 2.0
    assert result.status == 200 and result.excerpt == "x" * EXCERPT_LIMIT


def test_the_excerpt_counts_characters_and_replaces_bad_bytes(receiver):
    receiver.answer(400, body="é" * (2 * EXCERPT_LIMIT))
    receiver.answer(400, body=b"bad \xff\xfe bytes")
    assert post(sender(), receiver.url).excerpt == "é" * EXCERPT_LIMIT
    assert post(sender(), receiver.url).excerpt == "bad \ufffd\ufffd bytes"


def test_an_answer_cut_off_is_a_protocol_error(receiver):
    receiver.answer(None)  # the receiver closes the connection without answering
    result = post(sender(), receiver.url)
    assert result.status is None
    assert result.error is not None and result.error.startswith("protocol:")


def test_concurrent_posts_each_get_their_answer(receiver):
    receiver.secrets = [SECRET]
    shared = sender()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: post(shared, receiver.url, f"msg_{i}"), range(16)))

    assert [r.status for r in results] == [200] * 16
    got = receiver.wait_for(16)
    assert sorted(r.webhook_id or "" for r in got) == sorted(f"msg_{i}" for i in range(16))
    assert all(r.verified for r in got)


# --- the guard ---------------------------------------------------------------------------------


def test_loopback_is_refused_without_an_allow_list(receiver):
    guard = TargetGuard(AllowList(), SystemResolver())
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1 is a loopback") as refused:
        guard.check(receiver.url)
    assert isinstance(refused.value, InvalidInput)

    result = post(sender(AllowList()), receiver.url)
    assert result.refused and result.status is None
    assert result.error is not None and "127.0.0.1 is a loopback" in result.error
    assert_nothing_arrived(receiver)


def test_loopback_passes_when_allowed(receiver):
    target = TargetGuard(LOOPBACK, NoResolver()).check(receiver.url + "?a=1")

    assert (target.scheme, target.host, target.port) == ("http", "127.0.0.1", receiver.port)
    assert target.addresses == ("127.0.0.1",)
    assert target.host_header == f"127.0.0.1:{receiver.port}"
    assert target.path == "/hook?a=1"
    assert post(sender(LOOPBACK, NoResolver()), receiver.url).status == 200


def test_localhost_resolves_to_loopback_and_is_refused(receiver):
    assert {"127.0.0.1", "::1"} & set(SystemResolver().resolve("localhost", receiver.port))
    url = f"http://localhost:{receiver.port}/hook"
    with pytest.raises(TargetRefused, match="loopback"):
        TargetGuard(AllowList(), SystemResolver()).check(url)

    assert post(sender(AllowList()), url).refused
    assert_nothing_arrived(receiver)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://10.255.255.254:8080/hook",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[::ffff:7f00:1]:{port}/hook",
        "http://[64:ff9b::7f00:1]:{port}/hook",
        "http://[fe80::1]/",
        "http://0.0.0.0:{port}/hook",
        "http://224.0.0.1/",
        "https://[fd00::1]/",
    ],
)
def test_internal_address_literals_are_refused_without_resolving(receiver, url):
    url = url.format(port=receiver.port)
    with pytest.raises(TargetRefused, match="may not be reached"):
        TargetGuard(AllowList(), NoResolver()).check(url)

    result = post(sender(AllowList(), NoResolver()), url)
    assert result.refused and result.status is None
    assert_nothing_arrived(receiver)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "017700000001"])
def test_other_spellings_of_loopback_are_refused(receiver, host):
    url = f"http://{host}:{receiver.port}/hook"
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1 is a loopback"):
        TargetGuard(AllowList(), SystemResolver()).check(url)
    assert post(sender(AllowList()), url).refused
    assert_nothing_arrived(receiver)


def test_an_ipv6_literal_keeps_its_brackets_in_the_host_header():
    target = TargetGuard(AllowList.parse("::1"), NoResolver()).check("http://[::1]:8080/x")
    assert (target.host, target.addresses, target.host_header) == ("::1", ("::1",), "[::1]:8080")


def test_a_host_allowed_by_name_passes(receiver):
    resolver = DictResolver({"hooks.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]})
    allow = AllowList.parse("hooks.internal")
    url = f"http://hooks.internal:{receiver.port}/hook"

    assert TargetGuard(allow, resolver).check(url).addresses == ("127.0.0.1",)
    assert post(sender(allow, resolver), url).status == 200
    (got,) = receiver.wait_for(1)
    # Connected to the checked address; the name only in the Host header.
    assert got.headers["host"] == f"hooks.internal:{receiver.port}"
    with pytest.raises(TargetRefused, match="loopback"):
        TargetGuard(allow, resolver).check(f"http://other.internal:{receiver.port}/hook")


def test_a_host_is_refused_when_any_of_its_addresses_is(receiver):
    resolver = DictResolver({"hooks.test": ["127.0.0.1", "10.1.2.3"]})
    with pytest.raises(TargetRefused, match=r"10\.1\.2\.3"):
        TargetGuard(LOOPBACK, resolver).check(f"http://hooks.test:{receiver.port}/hook")


def test_a_dns_change_after_saving_is_refused_at_the_send(receiver):
    resolver = DictResolver({"hooks.test": ["127.0.0.1"]})
    url = f"http://hooks.test:{receiver.port}/hook"
    via = sender(LOOPBACK, resolver)
    assert via.guard.check(url).addresses == ("127.0.0.1",)  # the hook is saved

    resolver.records["hooks.test"] = ["10.1.2.3"]  # the owner's DNS now points inside
    result = post(via, url)

    assert result.refused and result.status is None
    assert result.error is not None and "10.1.2.3" in result.error
    assert resolver.asked == ["hooks.test", "hooks.test"]  # resolved again at the send
    assert_nothing_arrived(receiver)


def test_the_next_address_is_tried_when_one_does_not_connect(receiver):
    resolver = DictResolver({"hooks.test": ["127.0.0.2", "127.0.0.1"]})  # nothing on .2
    via = sender(AllowList.parse("127.0.0.0/8"), resolver)
    url = f"http://hooks.test:{receiver.port}/hook"
    assert post(via, url).status == 200

    resolver.records["hooks.test"] = ["127.0.0.2", "127.0.0.3"]
    result = post(via, url)
    assert result.status is None and result.error is not None
    assert result.error.startswith("connection:")
    assert "127.0.0.2" in result.error and "127.0.0.3" in result.error


def test_an_unresolvable_host_is_refused_at_saving_and_retried_at_a_send():
    with pytest.raises(ResolutionError):
        SystemResolver().resolve("no-such-host.invalid", 80)
    with pytest.raises(HostUnresolvable, match="does not resolve") as refused:
        TargetGuard(LOOPBACK, SystemResolver()).check("https://no-such-host.invalid/hook")
    assert isinstance(refused.value, InvalidInput)

    result = post(sender(LOOPBACK, DictResolver()), "https://gone.test/hook")
    assert result.status is None and not result.refused and retriable(result.status)
    assert result.error is not None and result.error.startswith("dns:")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.test/in", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://user:pw@hooks.test/", "credentials"),
        ("http://hooks.test/a b", "spaces or control characters"),
        ("http://hooks.test/\x00", "spaces or control characters"),
        ("http://hooks!.test/", "not a valid host name"),
        ("http://hooks..test/", "not a valid host name"),
    ],
)
def test_what_is_not_a_plain_http_url_is_refused(url, says):
    guard = TargetGuard(LOOPBACK, DictResolver({"hooks.test": ["127.0.0.1"]}))
    with pytest.raises(TargetRefused, match=says):
        guard.check(url)
    result = WebhookSender(guard, 1.0, "t").post(url, BODY, "msg_1", [SECRET], datetime.now(UTC))
    assert result.refused and result.status is None


def test_a_target_escapes_its_path_and_encodes_an_international_host():
    resolver = DictResolver({"xn--bcher-kva.test": ["127.0.0.1"]})
    target = TargetGuard(LOOPBACK, resolver).check("https://Bücher.test/p%20q/ü?x=ü&y=/")

    assert (target.host, target.port, target.host_header) == (
        "xn--bcher-kva.test",
        443,
        "xn--bcher-kva.test",
    )
    assert target.path == "/p%20q/%C3%BC?x=%C3%BC&y=/"
    assert target.is_https


# --- https ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.test: (certificate, key)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with Receiver(secrets=[SECRET], tls=context) as started:
        yield started


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_https_reaches_the_checked_address_under_the_host_name(tls_receiver, certificate):
    resolver = DictResolver({"hooks.test": ["127.0.0.1"]})
    via = sender(LOOPBACK, resolver, ssl_context=trusting(certificate))
    result = post(via, f"https://hooks.test:{tls_receiver.port}/hook")

    assert (result.status, result.error) == (200, None)
    (got,) = tls_receiver.wait_for(1)
    assert got.verified and got.headers["host"] == f"hooks.test:{tls_receiver.port}"


def test_https_refuses_a_certificate_for_another_name(tls_receiver, certificate):
    resolver = DictResolver({"other.test": ["127.0.0.1"]})
    via = sender(LOOPBACK, resolver, ssl_context=trusting(certificate))
    result = post(via, f"https://other.test:{tls_receiver.port}/hook")

    assert result.status is None and not result.refused
    assert result.error is not None and result.error.startswith("tls:")
    assert tls_receiver.count == 0


def test_https_refuses_a_certificate_it_does_not_trust(tls_receiver):
    resolver = DictResolver({"hooks.test": ["127.0.0.1"]})
    result = post(sender(LOOPBACK, resolver), f"https://hooks.test:{tls_receiver.port}/hook")

    assert result.status is None
    assert result.error is not None and result.error.startswith("tls:")
    assert "certificate" in result.error.lower()
    assert tls_receiver.count == 0


def test_https_to_a_plain_http_receiver_is_a_tls_error(receiver):
    result = post(sender(), receiver.url.replace("http://", "https://"))
    assert result.status is None
    assert result.error is not None and result.error.startswith("tls:")


# --- the receiver itself -----------------------------------------------------------------------


def test_a_held_request_waits_until_released(receiver):
    receiver.hold()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, sender(), receiver.url)
        receiver.wait_held(1)
        assert receiver.count == 0 and not pending.done()
        receiver.release()
        assert pending.result(timeout=10).status == 200
    assert len(receiver.wait_for(1)) == 1


def test_wait_for_says_what_arrived_when_it_gives_up(receiver):
    post(sender(), receiver.url)
    with pytest.raises(
        AssertionError, match=r"1 requests within 0.2s, not 2: \['POST /hook -> 200'\]"
    ):
        receiver.wait_for(2, timeout=0.2)
