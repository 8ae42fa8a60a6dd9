"""Writes tests/data/pre_projects_db.json: users and tasks as the code from before projects
(commit 732a00b) wrote them, for the start-up migration test (tests/integration/
test_project_migration.py). Run with that commit's code on the path, e.g.:

    git worktree add /tmp/old 732a00b && cd /tmp/old && make .venv/.test-installed
    .venv/bin/python $REPO/tests/data/make_pre_projects_db.py $REPO/tests/data/pre_projects_db.json
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import json_util

from tasktracker.bootstrap import Container, bootstrap
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.settings import Settings

PASSWORD = "correct horse battery"


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), admin_email=None)
        container = bootstrap(settings)
        try:
            write(container)
            db = container.adapters.db
            dump = {name: list(db[name].find().sort("_id", 1)) for name in ("users", "tasks")}
        finally:
            container.close()
    out.write_text(json_util.dumps(dump, indent=1, json_options=json_util.RELAXED_JSON_OPTIONS))
    print(f"wrote {len(dump['users'])} users and {len(dump['tasks'])} tasks to {out}")


def write(container: Container) -> None:
    s = container.services
    admin = s.accounts.create_admin("root@example.com", PASSWORD, "root")
    alice = s.accounts.signup("alice", "alice@example.com", PASSWORD)
    bob = s.accounts.signup("bob", "bob@example.com", PASSWORD)
    due = datetime(2031, 1, 1, tzinfo=UTC)
    for n in range(7):
        assignee = [alice.id, bob.id, None][n % 3]
        task = s.tasks.create(
            alice if n % 2 else admin,
            TaskCreate(title=f"old task {n}", assignee=assignee, due_date=due + timedelta(days=n)),
        )
        if n % 4 == 0:
            s.tasks.update(admin, task.id, {"status": "in_progress"})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
