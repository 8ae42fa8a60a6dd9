"""The floor for `make bench`: bare Flask handlers doing what an API request does in MongoDB and
nothing else (no auth, no validation, no models, no logging):

- get task by id: one `find_one` by `_id`;
- a task's activity (first page): one `find` of the task's entries on the `task_at` index,
  newest first, limit + 1 (the API reads one more to know whether a next page exists);
- add comment: a `find_one` of the task (it must exist; the comment carries its project) and an
  `insert_one` into `comments` (a full comment document, by the task's assignee; no activity
  entry, no watchers, no event, no transaction);
- status summary (legacy `/tasks/status_summary`): what the original ran, one `$group` of the
  tasks by status (the API now reads its counters instead);
- recent tasks (legacy `/tasks/recent`): what the API ran before reading window by window, one
  `find` of the ten newest on the `created` index (no project filter: the bench's tasks are all
  in one project).

Served by the same server as the API:
    MONGO_URL=… MONGO_DB=… granian --interface wsgi --working-dir bench floor_app:app
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from flask import Flask, Response, jsonify, request
from pymongo import DESCENDING, MongoClient

client: MongoClient = MongoClient(
    os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017"), tz_aware=True, tzinfo=UTC
)
db = client[os.environ.get("MONGO_DB", "tasktracker")]
tasks, activity, comments = db.tasks, db.activity, db.comments
app = Flask(__name__)
NOT_FOUND = {"status": 404}
# The queries that read every task give up after wrk's timeout (bench/run.py --timeout): on the
# embedded server a request wrk gave up on would otherwise go on running, and the backlog would
# slow the runs after it.
SLOW_QUERY_MS = 10_000


def find_task(task_id: str) -> dict[str, Any] | None:
    try:
        return tasks.find_one({"_id": ObjectId(task_id)})
    except InvalidId:
        return None


def public(doc: dict[str, Any]) -> dict[str, Any]:
    doc["id"] = str(doc.pop("_id"))
    return doc


@app.get("/api/v1/tasks/<task_id>")
def get_task(task_id: str) -> Response | tuple[Response, int]:
    doc = find_task(task_id)
    if doc is None:
        return jsonify(NOT_FOUND), 404
    return jsonify(public(doc))


@app.get("/api/v1/tasks/<task_id>/activity")
def task_activity(task_id: str) -> Response:
    limit = int(request.args.get("limit", 50))
    docs = list(
        activity.find({"task_id": task_id})
        .sort([("at", DESCENDING), ("_id", DESCENDING)])
        .limit(limit + 1)
    )
    more = len(docs) > limit
    items = [public(d) for d in docs[:limit]]
    return jsonify({"items": items, "next_cursor": items[-1]["id"] if more else None})


@app.post("/api/v1/tasks/<task_id>/comments")
def add_comment(task_id: str) -> tuple[Response, int]:
    task = find_task(task_id)
    if task is None:
        return jsonify(NOT_FOUND), 404
    doc = {
        "task_id": task_id,
        "project_id": task.get("project_id"),
        "author": task.get("assignee") or task.get("reporter"),
        "body": (request.get_json(silent=True) or {}).get("body"),
        "mentions": [],
        "created_at": datetime.now(UTC),
        "edited_at": None,
        "deleted_at": None,
        "version": 1,
    }
    comments.insert_one(doc)
    return jsonify(public(doc)), 201


@app.get("/tasks/status_summary")
def status_summary() -> Response:
    counts = {"open": 0, "in_progress": 0, "done": 0}
    pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
    for row in tasks.aggregate(pipeline, maxTimeMS=SLOW_QUERY_MS):
        counts[row["_id"]] = row["n"]
    return jsonify(counts)


@app.get("/tasks/recent")
def recent() -> Response:
    docs = tasks.find({}).sort("sk_created", DESCENDING).limit(10).max_time_ms(SLOW_QUERY_MS)
    return jsonify({"tasks": [public(d) for d in docs]})


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
