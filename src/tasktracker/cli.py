"""The `tasktracker` command: run | api | agent | scheduler | migrate-queues | create-admin | seed |
nginx-config | stack."""

from __future__ import annotations

import argparse
import getpass
import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server, select_address_family

from tasktracker import metrics
from tasktracker.adapters.broker import QUEUE_BINDINGS
from tasktracker.agent.runner import Background, prepare_queues
from tasktracker.bootstrap import Container, bootstrap, make_broker
from tasktracker.deploy.commands import add_deploy_commands
from tasktracker.domain.errors import DomainError
from tasktracker.logging_setup import GRANIAN_LOGGING, configure_logging
from tasktracker.scheduler.runner import AlertScheduler
from tasktracker.seed import add_seed_command
from tasktracker.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SettingsError as exc:
        print(f"tasktracker: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasktracker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="serve the API with the agent, the outbox relay and the scheduler as threads "
        "(embedded default: no services needed)",
    )
    run.add_argument("--no-agent", action="store_true", help="leave letters to `tasktracker agent`")
    run.add_argument(
        "--no-relay", action="store_true", help="leave the outbox to relays in other processes"
    )
    run.add_argument(
        "--no-scheduler",
        action="store_true",
        help="leave scheduled alerts to `tasktracker scheduler` processes",
    )
    run.set_defaults(handler=cmd_run)

    api = commands.add_parser(
        "api",
        help="serve the API with granian: API_WORKERS processes of API_THREADS threads, no "
        "background work (a stateless replica; run `tasktracker agent` beside it)",
    )
    api.set_defaults(handler=cmd_api)

    agent = commands.add_parser("agent", help="run the SOA agent (letters) and the outbox relay")
    agent.add_argument(
        "--no-relay", action="store_true", help="consume only; leave the outbox to other relays"
    )
    agent.set_defaults(handler=cmd_agent)

    migrate = commands.add_parser(
        "migrate-queues",
        help="move RabbitMQ queues declared otherwise by an earlier version (classic queues) to "
        "this version's quorum queues, messages included (the agent also does it at start)",
    )
    migrate.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for consumers of the old queues to go (default 60)",
    )
    migrate.set_defaults(handler=cmd_migrate_queues)

    add_deploy_commands(commands)
    scheduler = commands.add_parser(
        "scheduler",
        help="run the alert scheduler (several may run: one is active, the others stand by)",
    )
    scheduler.set_defaults(handler=cmd_scheduler)

    admin = commands.add_parser("create-admin", help="create an admin, or promote an account")
    admin.add_argument("--email")
    admin.add_argument("--username")
    admin.add_argument("--password", help="prompted for when omitted")
    admin.set_defaults(handler=cmd_create_admin)
    add_seed_command(commands)
    return parser


def _raise_keyboard_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_until_stopped(
    label: str, work: Callable[[], object], *cleanups: Callable[[], object]
) -> int:
    """Run `work` until Ctrl-C or SIGTERM, then the clean-ups in order; exit status 0."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        work()
    except KeyboardInterrupt:
        print(f"{label}: shutting down", flush=True)
    finally:
        for cleanup in cleanups:
            cleanup()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tasktracker.api.app import create_app

    settings = load_settings()
    configure_logging(settings)
    listener = listen(settings)
    # Bound first, so the settings (and links in letters) name the port actually bound.
    settings = settings.model_copy(update={"port": listener.getsockname()[1]})
    container = bootstrap(settings)
    server = make_server(
        settings.host,
        settings.port,
        create_app(container.services),
        threaded=True,
        fd=listener.fileno(),
    )
    listener.close()  # the server holds its own duplicate
    background = Background(container, agent=not args.no_agent, relay=not args.no_relay).start()
    scheduler = None if args.no_scheduler else AlertScheduler(container).start_thread()
    base = f"http://{settings.host}:{settings.port}"
    print(f"TaskTracker API: {base}/  docs: {base}/docs/  spec: {base}/openapi.json", flush=True)
    stop_scheduler = scheduler.stop if scheduler else (lambda: None)
    return run_until_stopped(
        "TaskTracker",
        server.serve_forever,
        server.server_close,
        stop_scheduler,
        background.stop,
        container.close,
    )


def listen(settings: Settings) -> socket.socket:
    """A socket listening on HOST:PORT (PORT=0: a free port); exit with one line if it cannot."""
    family = select_address_family(settings.host, settings.port)
    try:
        return socket.create_server((settings.host, settings.port), family=family, backlog=128)
    except OSError as exc:
        # create_server's message names the address: "Address already in use (while ...)".
        raise SystemExit(f"tasktracker: cannot listen: {exc.strerror or exc}") from None


def cmd_api(_args: argparse.Namespace) -> int:
    from granian.constants import Interfaces
    from granian.server import Server

    settings = load_settings()
    configure_logging(settings, process_name=settings.instance_name or "api")
    # Workers are fresh interpreters that find the metrics directory in their environment.
    metrics.prepare_multiprocess_dir(Path(settings.data_dir) / "prometheus")
    multiprocessing.set_start_method("spawn", force=True)
    server = Server(
        "tasktracker.wsgi:create",
        factory=True,
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.api_workers,
        blocking_threads=settings.api_threads,
        respawn_failed_workers=True,
        log_access=False,
        log_dictconfig=GRANIAN_LOGGING,
    )
    print(
        f"TaskTracker API (granian, {settings.api_workers} worker(s) x "
        f"{settings.api_threads} threads): http://{settings.host}:{settings.port}/",
        flush=True,
    )
    server.serve()
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings, process_name="agent")
    container = bootstrap(settings)
    start_agent_metrics(settings)
    background = Background(container, relay=not args.no_relay).start()
    print(f"TaskTracker agent: consuming {', '.join(QUEUE_BINDINGS)}", flush=True)
    return run_until_stopped("TaskTracker agent", signal.pause, background.stop, container.close)


def cmd_migrate_queues(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings, process_name="cli")
    if settings.amqp_url is None:
        print("tasktracker: no AMQP_URL: the in-process broker has nothing to migrate")
        return 0
    broker = make_broker(settings)  # the broker alone: no database needed
    try:
        migrated = prepare_queues(broker, settings, timeout=args.timeout)
    except Exception as exc:
        print(f"tasktracker: queues not migrated yet: {exc}", file=sys.stderr)
        return 1
    finally:
        broker.close()
    for done in migrated:
        print(f"{done.queue}: migrated, {done.moved} message(s) moved")
    print(f"queues up to date ({len(migrated)} migrated)")
    return 0


def start_agent_metrics(settings: Settings) -> None:
    if settings.agent_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.agent_metrics_port, settings.host, metrics.registry())
        print(f"TaskTracker agent metrics: http://{settings.host}:{settings.agent_metrics_port}/")


def cmd_scheduler(_args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings, process_name="scheduler")
    container = bootstrap(settings)
    scheduler = AlertScheduler(container)
    print(f"TaskTracker scheduler {scheduler.owner}: started", flush=True)
    return run_until_stopped(
        "TaskTracker scheduler", scheduler.run, scheduler.stop, container.close
    )


def cmd_create_admin(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings, process_name="cli")
    email = args.email or input("Admin email: ").strip()
    password = args.password or _prompt_password()
    container: Container = bootstrap(settings)
    try:
        admin = container.services.accounts.create_admin(email, password, args.username)
    except DomainError as exc:
        print(f"tasktracker: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        container.close()
    print(f"admin ready: {admin.username} <{admin.email}> id={admin.id}")
    return 0


def _prompt_password() -> str:
    if not sys.stdin.isatty():
        raise SystemExit("tasktracker: --password is required when not run interactively")
    first = getpass.getpass("Admin password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("tasktracker: the passwords differ")
    return first
