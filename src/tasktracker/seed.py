"""`tasktracker seed --users N --tasks M`: bulk demo and benchmark data, written fast.

Users are `<prefix>00000…` with emails `<prefix>00000@seed.tasktracker.local` and one shared,
known password; its argon2id hash is computed once and reused, so seeding costs what the bulk
inserts cost. Seeding again reuses the users that exist and adds M more tasks. Users join the
given project (the default one from the CLI) and the tasks are written into it, each with its
key, and added to the project's task counters in the same transaction. No events are recorded:
seeded users get no welcome letter.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from tasktracker.adapters.mongo.migrations import build_counts
from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.adapters.mongo.task_counts import TaskCountRepository
from tasktracker.adapters.mongo.tasks import task_to_doc
from tasktracker.domain.projects import Membership, Project, ProjectRole, task_key
from tasktracker.domain.task_counts import Bucket, counts_of
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import Role, normalize_email, username_key

DEFAULT_PASSWORD = "seed-password-123"
EMAIL_DOMAIN = "seed.tasktracker.local"
T = TypeVar("T")
DUPLICATE_KEY = 11000

STATUS_WEIGHTS = {Status.OPEN: 40, Status.IN_PROGRESS: 25, Status.DONE: 35}
PRIORITY_WEIGHTS = {Priority.LOW: 25, Priority.MEDIUM: 45, Priority.HIGH: 22, Priority.CRITICAL: 8}
TYPE_WEIGHTS = {"task": 55, "bug": 25, "feature": 15, "chore": 5}
VERBS = ["Fix", "Write", "Review", "Refactor", "Document", "Test", "Deploy", "Design", "Migrate"]
NOUNS = ["login page", "billing report", "search API", "onboarding flow", "export job",
         "audit log", "mobile layout", "invoice PDF", "rate limiter", "dashboard"]  # fmt: skip
LABELS = ["backend", "frontend", "urgent", "customer", "tech-debt", "security", "ops"]
ESTIMATES = [None, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
TRANSACTION_DOCS = 500


@dataclass(frozen=True, slots=True)
class SeedPlan:
    users: int
    tasks: int
    password: str = DEFAULT_PASSWORD
    prefix: str = "seed"
    batch_size: int = 5000
    random_seed: int | None = None
    assigned_share: float = 0.9  # the rest of the tasks have no assignee


@dataclass(frozen=True, slots=True)
class SeedResult:
    user_ids: list[str]
    users_created: int
    tasks_created: int
    seconds: float


def seed_email(prefix: str, index: int) -> str:
    return f"{prefix}{index:05d}@{EMAIL_DOMAIN}"


def seed(
    db: Database, password_hash: str, plan: SeedPlan, now: datetime, *, project: Project
) -> SeedResult:
    """Insert the plan's users (keeping those that exist) as members of `project`, and
    `plan.tasks` new tasks in it."""
    if plan.tasks and not plan.users:
        raise ValueError("tasks need at least one user to report them")
    started = time.perf_counter()
    created = insert_users(db, plan, password_hash, now)
    user_ids = seeded_user_ids(db, plan)
    MembershipRepository(db).add_many(
        [Membership(project.id, uid, ProjectRole.MEMBER, now) for uid in user_ids]
    )
    rng = random.Random(plan.random_seed)
    tasks = 0
    projects = ProjectRepository(db)
    build_counts(db.client, db, project.id)  # the tasks it has already are counted first
    for batch in batched(task_docs(rng, user_ids, plan, now), plan.batch_size):
        first = projects.reserve_task_numbers(project.id, len(batch))
        for offset, doc in enumerate(batch):
            doc.update(project_id=project.id, key=task_key(project.key, first + offset))
        insert_counted(db, project.id, batch)
        tasks += len(batch)
    return SeedResult(user_ids, created, tasks, time.perf_counter() - started)


def insert_counted(db: Database, project_id: str, docs: list[dict[str, Any]]) -> None:
    """Insert task documents of one project and add them to its counters (the summary reads
    the counters, adapters/mongo/task_counts.py), TRANSACTION_DOCS at a time in one transaction
    each: SecantusDB's cost of a transaction grows faster than its size (2 000 tasks in one
    took twice as long as in four)."""
    with db.client.start_session() as session:
        for chunk in batched(iter(docs), TRANSACTION_DOCS):
            change = counts_of(Bucket.of(project_id, d["status"], d.get("due_date")) for d in chunk)
            with session.start_transaction():
                db.tasks.insert_many(chunk, ordered=False, session=session)
                TaskCountRepository(db, session).apply(change)


def insert_users(db: Database, plan: SeedPlan, password_hash: str, now: datetime) -> int:
    docs = [user_doc(plan.prefix, i, password_hash, now) for i in range(plan.users)]
    if not docs:
        return 0
    try:
        return len(db.users.insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        return exc.details.get("nInserted", 0)


def user_doc(prefix: str, index: int, password_hash: str, now: datetime) -> dict[str, Any]:
    username = f"{prefix}{index:05d}"
    return {
        "username": username,
        "username_key": username_key(username),
        "email": normalize_email(seed_email(prefix, index)),
        "password_hash": password_hash,
        "role": str(Role.MEMBER),
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


def seeded_user_ids(db: Database, plan: SeedPlan) -> list[str]:
    emails = [seed_email(plan.prefix, i) for i in range(plan.users)]
    found = {d["email"]: str(d["_id"]) for d in db.users.find({"email": {"$in": emails}})}
    return [found[email] for email in emails if email in found]


def task_docs(
    rng: random.Random, user_ids: list[str], plan: SeedPlan, now: datetime
) -> Iterator[dict[str, Any]]:
    for n in range(plan.tasks):
        oid = ObjectId()
        task = random_task(rng, str(oid), user_ids, plan.assigned_share, now, n)
        yield {"_id": oid, **task_to_doc(task)}


def random_task(
    rng: random.Random, task_id: str, user_ids: list[str], assigned: float, now: datetime, n: int
) -> Task:
    """One task with a realistic spread: mostly assigned, a third done, some overdue."""
    created = now - timedelta(seconds=rng.uniform(0, 180 * 86_400))
    status = weighted(rng, STATUS_WEIGHTS)
    due = created + timedelta(days=rng.uniform(1, 60)) if rng.random() < 0.7 else None
    completed = None
    if status is Status.DONE:
        completed = min(now, created + timedelta(days=rng.uniform(0.1, 30)))
    updated = completed or min(now, created + timedelta(days=rng.uniform(0, 10)))
    return Task(
        id=task_id,
        title=f"{rng.choice(VERBS)} {rng.choice(NOUNS)} #{n}",
        reporter=rng.choice(user_ids),
        assignee=rng.choice(user_ids) if rng.random() < assigned else None,
        created_at=created,
        updated_at=updated,
        type=weighted(rng, TYPE_WEIGHTS),
        status=status,
        priority=weighted(rng, PRIORITY_WEIGHTS),
        estimate_hours=rng.choice(ESTIMATES),
        start_date=created if status is not Status.OPEN else None,
        due_date=due,
        completed_at=completed,
        labels=rng.sample(LABELS, rng.randint(0, 2)),
    )


def weighted(rng: random.Random, weights: dict[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def batched(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the CLI command ---------------------------------------------------------------------------


def add_seed_command(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("seed", help="bulk-insert demo/benchmark users and tasks")
    cmd.add_argument("--users", type=int, default=10, help="seeded users (kept if they exist)")
    cmd.add_argument("--tasks", type=int, default=1000, help="tasks to add")
    cmd.add_argument("--password", default=DEFAULT_PASSWORD, help="every seeded user's password")
    cmd.add_argument("--prefix", default="seed", help="username prefix of the seeded users")
    cmd.add_argument("--batch-size", type=int, default=5000)
    cmd.add_argument("--random-seed", type=int, help="repeatable data")
    cmd.set_defaults(handler=cmd_seed)


def cmd_seed(args: argparse.Namespace) -> int:
    from tasktracker.adapters.passwords import PasswordHasher
    from tasktracker.bootstrap import bootstrap
    from tasktracker.logging_setup import configure_logging
    from tasktracker.settings import load_settings

    settings = load_settings()
    configure_logging(settings, process_name="cli")
    plan = SeedPlan(
        users=args.users,
        tasks=args.tasks,
        password=args.password,
        prefix=args.prefix,
        batch_size=max(1, args.batch_size),
        random_seed=args.random_seed,
    )
    hasher = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost_kib=settings.password_hash_memory_kib,
    )
    container = bootstrap(settings)
    try:
        result = seed(
            container.adapters.db,
            hasher.hash(plan.password),
            plan,
            container.clock(),
            project=container.services.projects.default.ensure(),
        )
    finally:
        container.close()
    print(
        f"seeded {result.users_created} new users ({len(result.user_ids)} seeded in all, "
        f"password {plan.password!r}) and {result.tasks_created} tasks "
        f"in {result.seconds:.1f}s",
        flush=True,
    )
    return 0
