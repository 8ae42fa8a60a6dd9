"""The production topology through `tasktracker.deploy.stack` (what `make stack` runs): real
nginx in front of 2 granian replicas of 2 workers each, the agent process mailing into an
aiosmtpd server, on SecantusDB (or MONGO_URL), RabbitMQ and Memcached."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from tasktracker.deploy.processes import free_port, port_open
from tasktracker.deploy.stack import Stack, StackOptions, is_ours
from tests.support.services import amqp_url
from tests.support.settings import FAST_HASHING, GENEROUS_LIMITS, TEST_JWT_SECRET, env_vars
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

REPLICAS = ("api-1", "api-2")
STACK_ADMIN = ("stack-admin@example.com", "stack admin password")
LOAD_REQUESTS = 600
KILL_AFTER = 150


def two_free_ports() -> int:
    """A port p with p + 1 free too (replica i listens on STACK_API_PORT + i - 1)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and not port_open("127.0.0.1", port + 1):
            return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def stack(mongo_url, memcached_servers, rabbitmq_vhost, smtp, tmp_path_factory) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "PROMETHEUS_"))}
    env.update(env_vars(**FAST_HASHING, **GENEROUS_LIMITS))
    env.update(
        STACK_DIR=str(tmp_path_factory.mktemp("stack")),
        STACK_PORT=str(free_port()),
        STACK_API_PORT=str(two_free_ports()),
        STACK_REPLICAS="2",
        AGENT_METRICS_PORT=str(free_port()),
        API_WORKERS="2",
        MONGO_URL=mongo_url,
        MONGO_DB=f"tt_stack_{uuid.uuid4().hex[:8]}",
        MEMCACHED_SERVERS=memcached_servers,
        AMQP_URL=amqp_url(5672, rabbitmq_vhost),
        SMTP_URL=smtp.url,
        JWT_SECRET=TEST_JWT_SECRET,
        AGENT_RETRY_DELAY="0.05",
        OUTBOX_RELAY_INTERVAL="0.5",
        NOTIFY_COALESCE_SECONDS="1",
        NOTIFY_FLUSH_INTERVAL="0.2",
        ADMIN_EMAIL=STACK_ADMIN[0],
        ADMIN_PASSWORD=STACK_ADMIN[1],
    )
    running = Stack(StackOptions.from_env(env))
    running.up()
    yield running
    started = running.processes()
    running.down()
    assert not any(is_ours(record) for record in started)


def url(stack: Stack, path: str) -> str:
    return f"{stack.options.url}{path}"


def signup_and_login(base: str, username: str, **headers: str) -> dict[str, str]:
    body = {"username": username, "email": f"{username}@example.com", "password": "pw " * 4}
    r = requests.post(f"{base}/api/v1/auth/signup", json=body, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    login = {"email": body["email"], "password": body["password"]}
    r = requests.post(f"{base}/api/v1/auth/login", json=login, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def stack_admin(stack: Stack) -> dict[str, str]:
    """The headers of a session of the stack's admin."""
    login = {"email": STACK_ADMIN[0], "password": STACK_ADMIN[1]}
    token = requests.post(url(stack, "/api/v1/auth/login"), json=login, timeout=10).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def fire_digest_now(stack: Stack) -> None:
    """As the stack's admin, schedule a digest run right now."""
    admin = stack_admin(stack)
    r = requests.post(
        url(stack, "/api/v1/alerts/schedules"), json={"type": "now"}, headers=admin, timeout=5
    )
    assert r.status_code == 201, r.text


def test_a_now_alert_through_nginx_reaches_the_stack_scheduler_and_mails_a_digest(stack, smtp):
    assert "scheduler" in stack.running()
    member = signup_and_login(stack.options.url, "stackdigest")
    me = requests.get(url(stack, "/api/v1/users/me"), headers=member, timeout=5).json()
    task = {"title": "digest me", "assignee": me["id"]}
    assert (
        requests.post(url(stack, "/api/v1/tasks"), json=task, headers=member, timeout=5).status_code
        == 201
    )
    fire_digest_now(stack)

    def digests() -> list:
        letters = smtp.letters_to("stackdigest@example.com")
        return [m for m in letters if "digest me" in text_of(m)]

    wait_until(digests, timeout=30)
    assert len(digests()) == 1  # one digest for one alert, from the one active scheduler


def test_requests_through_nginx_reach_every_replica(stack):
    with requests.Session() as session:
        served = Counter(
            session.get(url(stack, "/healthz"), timeout=5).headers["X-Served-By"] for _ in range(20)
        )
    assert set(served) == set(REPLICAS)


def test_nginx_sets_request_ids_caps_bodies_gzips_json_and_hides_metrics(stack):
    r = requests.get(url(stack, "/healthz"), headers={"X-Request-ID": "client-id-1"}, timeout=5)
    assert r.headers["X-Request-ID"] == "client-id-1"
    made = requests.get(url(stack, "/healthz"), headers={"X-Request-ID": "bad id!"}, timeout=5)
    assert made.headers["X-Request-ID"] not in ("", "bad id!")

    spec = requests.get(url(stack, "/openapi.json"), headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert spec.headers["Content-Encoding"] == "gzip"
    assert "paths" in spec.json()

    big = requests.post(
        url(stack, "/api/v1/auth/signup"), data=b"x" * (2 * 1024 * 1024), timeout=10
    )
    assert big.status_code == 413
    assert requests.get(url(stack, "/metrics"), timeout=5).status_code == 404


def test_signup_through_nginx_mails_a_welcome_letter_and_logs_the_request_id(stack, smtp):
    request_id = f"e2e-{uuid.uuid4().hex}"
    signup_and_login(stack.options.url, "stackwelcome", **{"X-Request-ID": request_id})

    [letter] = wait_until(lambda: smtp.letters_to("stackwelcome@example.com"), timeout=30)
    assert "Hello stackwelcome," in text_of(letter)

    agent_log = Path(stack.process("agent").log)
    line = wait_until(
        lambda: next((x for x in agent_log.read_text().splitlines() if request_id in x), None),
        timeout=15,
    )
    assert "letter sent for event" in line
    assert f"correlation_id={request_id}" in line
    agent_metrics = f"http://127.0.0.1:{stack.options.agent_metrics_port}/metrics"
    sent = scrape(agent_metrics, "tasktracker_letters_sent_total", type="user.registered")
    assert sent >= 1


def scrape(address: str, sample: str, **labels: str) -> float:
    text = requests.get(address, timeout=5).text
    return sum_samples(text_string_to_metric_families(text), sample, labels)


def sum_samples(families, sample: str, labels: dict[str, str]) -> float:
    return sum(
        s.value
        for family in families
        for s in family.samples
        if s.name == sample and labels.items() <= s.labels.items()
    )


def per_worker_counts(metrics_dir: Path, tmp_path: Path, **labels: str) -> dict[str, float]:
    """Each worker's own count, read from its file alone (prometheus_client's public reader)."""
    counts = {}
    for db in metrics_dir.glob("counter_*.db"):
        alone = tmp_path / db.stem
        alone.mkdir(parents=True)
        shutil.copy(db, alone / db.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counts[db.stem] = sum_samples(registry.collect(), "tasktracker_http_requests_total", labels)
    return counts


def test_metrics_of_a_replica_add_up_both_of_its_workers(stack, tmp_path):
    base = stack.replica_url("api-1")
    labels = {"route": "/healthz", "status": "200", "method": "GET"}
    metrics_dir = stack.dir / "api-1" / "prometheus"

    def both_workers_counted() -> bool:
        for _ in range(20):  # fresh connections, so the kernel may hand them to either worker
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        counts = per_worker_counts(metrics_dir, tmp_path / uuid.uuid4().hex, **labels)
        return sum(1 for n in counts.values() if n > 0) >= 2

    wait_until(both_workers_counted, timeout=30, interval=0)
    workers = per_worker_counts(metrics_dir, tmp_path / "final", **labels)
    total = scrape(f"{base}/metrics", "tasktracker_http_requests_total", **labels)
    assert total == sum(workers.values())
    assert scrape(f"{base}/metrics", "tasktracker_outbox_pending") >= 0


def on_replica(stack: Stack, name: str, path: str) -> str:
    """A URL of one replica, past nginx."""
    return stack.replica_url(name) + path


def statuses_on_every_replica(stack: Stack, path: str, headers: dict[str, str]) -> set[int]:
    """The answers to `path`, four times on each replica (so on both of its workers, which
    each keep their own verified tokens and caches)."""
    return {
        requests.get(on_replica(stack, name, path), headers=headers, timeout=5).status_code
        for name in REPLICAS
        for _ in range(4)
    }


def test_a_logout_through_one_replica_ends_the_token_on_every_replica_at_once(stack):
    base = stack.options.url
    headers = signup_and_login(base, "logoutall")
    assert statuses_on_every_replica(stack, "/api/v1/users/me", headers) == {200}
    r = requests.post(on_replica(stack, "api-1", "/api/v1/auth/logout"), headers=headers, timeout=5)
    assert r.status_code == 204, r.text
    assert statuses_on_every_replica(stack, "/api/v1/users/me", headers) == {401}


def set_role(stack: Stack, replica: str, user_id: str, role: str) -> None:
    """The stack's admin gives `user_id` `role`, through `replica`."""
    r = requests.patch(
        on_replica(stack, replica, f"/api/v1/users/{user_id}"), json={"role": role},
        headers=stack_admin(stack), timeout=5,
    )  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_demotion_through_one_replica_applies_on_every_replica_at_once(stack):
    deputy = signup_and_login(stack.options.url, "deputyadmin")
    deputy_id = requests.get(url(stack, "/api/v1/users/me"), headers=deputy, timeout=5).json()["id"]
    set_role(stack, "api-2", deputy_id, "admin")
    assert statuses_on_every_replica(stack, "/api/v1/users", deputy) == {200}

    set_role(stack, "api-1", deputy_id, "member")
    assert statuses_on_every_replica(stack, "/api/v1/users", deputy) == {403}
    assert statuses_on_every_replica(stack, "/api/v1/users/me", deputy) == {200}


def test_a_replica_killed_during_load_costs_no_get_request(stack):
    """Runs last in this module: it leaves api-2 dead."""
    base = stack.options.url
    auth = signup_and_login(base, "stackload")
    created = requests.post(f"{base}/api/v1/tasks", json={"title": "t"}, headers=auth, timeout=10)
    task_url = f"{base}/api/v1/tasks/{created.json()['id']}"
    done = threading.Semaphore(0)
    local = threading.local()

    def get(_: int) -> tuple[int | str, str]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            r = session.get(task_url, headers=auth, timeout=15)
            return r.status_code, r.headers.get("X-Served-By", "?")
        except requests.RequestException as exc:
            return type(exc).__name__, "?"
        finally:
            done.release()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(get, range(LOAD_REQUESTS))
        for _ in range(KILL_AFTER):
            assert done.acquire(timeout=30)
        stack.kill("api-2", signal.SIGKILL)
        outcomes = list(results)

    failures = [status for status, _ in outcomes if status != 200]
    assert failures == []
    served = [who for _, who in outcomes]
    assert "api-2" in served[:KILL_AFTER]
    assert set(served[-100:]) == {"api-1"}


def test_two_projects_two_users_each_sees_only_their_own_work(stack, smtp):
    """Through nginx and both replicas: lists, summary and the digest letter of each user hold
    only their own project's tasks."""
    base = stack.options.url
    people = {name: signup_and_login(base, name) for name in ("projalice", "projbob")}
    titles = {"projalice": "alice ledger close", "projbob": "bob firewall audit"}
    for (name, headers), key in zip(people.items(), ("ALI", "BOB"), strict=True):
        body = {"key": key, "name": f"{name}'s project"}
        r = requests.post(url(stack, "/api/v1/projects"), json=body, headers=headers, timeout=5)
        assert r.status_code == 201, r.text
        me = requests.get(url(stack, "/api/v1/users/me"), headers=headers, timeout=5).json()
        task = {
            "title": titles[name],
            "project": key,
            "assignee": me["id"],
            "due_date": "2020-01-01T00:00:00Z",
        }
        r = requests.post(url(stack, "/api/v1/tasks"), json=task, headers=headers, timeout=5)
        assert r.status_code == 201 and r.json()["key"] == f"{key}-1", r.text

    for name, headers in people.items():
        other = titles["projbob" if name == "projalice" else "projalice"]
        for _ in range(4):  # nginx spreads these over both replicas
            listed = requests.get(url(stack, "/api/v1/tasks"), headers=headers, timeout=5).text
            assert titles[name] in listed and other not in listed
        summary = requests.get(url(stack, "/api/v1/tasks/summary"), headers=headers, timeout=5)
        mine = requests.get(url(stack, "/api/v1/tasks/mine"), headers=headers, timeout=5).json()
        assert [t["title"] for t in mine["items"]] == [titles[name]]
        assert summary.json()["overdue"] == 1  # only their own overdue task

    fire_digest_now(stack)
    for name, key in (("projalice", "ALI"), ("projbob", "BOB")):
        other = titles["projbob" if name == "projalice" else "projalice"]

        def letter(name: str = name) -> list:
            return [m for m in smtp.letters_to(f"{name}@example.com") if titles[name] in text_of(m)]

        wait_until(letter, timeout=30)
        text = text_of(letter()[0])
        assert other not in text and f"{key}-1" in text


def test_a_comment_mentioning_the_reporter_mails_them_one_letter_and_the_author_none(
    stack, smtp, mongo_url
):
    """Through nginx, both replicas, RabbitMQ and the agent process: a member comments on the
    owner's task mentioning them; the owner gets one letter with the comment and a link to the
    task, the author none."""
    base = stack.options.url
    owner, author = (signup_and_login(base, name) for name in ("noteowner", "noteauthor"))
    r = requests.post(
        url(stack, "/api/v1/projects"), json={"key": "NOTE", "name": "Notes"}, headers=owner,
        timeout=5,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    author_id = requests.get(url(stack, "/api/v1/users/me"), headers=author, timeout=5).json()["id"]
    r = requests.put(
        url(stack, f"/api/v1/projects/NOTE/members/{author_id}"), json={"role": "member"},
        headers=owner, timeout=5,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    task = {"title": "Renew the certificate", "project": "NOTE"}
    r = requests.post(url(stack, "/api/v1/tasks"), json=task, headers=owner, timeout=5)
    assert r.status_code == 201, r.text
    task_id = r.json()["id"]
    body = {"body": "@noteowner the new one is in the vault"}
    r = requests.post(url(stack, "/api/v1/tasks/NOTE-1/comments"), json=body, headers=author,
                      timeout=5)  # fmt: skip
    assert r.status_code == 201, r.text

    def letters(address: str) -> list:
        return [m for m in smtp.letters_to(address) if "NOTE-1" in m["Subject"]]

    [letter] = wait_until(lambda: letters("noteowner@example.com"), timeout=30)
    text = text_of(letter)
    assert "the new one is in the vault" in text and "/api/v1/tasks/NOTE-1" in text
    db = MongoClient(mongo_url)[stack.options.env["MONGO_DB"]]
    wait_until(lambda: db.notifications.count_documents({"task_id": task_id}) == 0, timeout=30)
    wait_until(lambda: db.outbox.count_documents({"sent_at": None}) == 0, timeout=30)
    assert len(letters("noteowner@example.com")) == 1
    assert letters("noteauthor@example.com") == []
