"""The floor for `make bench`: a bare Flask handler doing what get-task-by-id does in MongoDB —
one `find_one` by `_id` — and nothing else (no auth, no validation, no models, no logging).

Served by the same server as the API:
    MONGO_URL=… MONGO_DB=… granian --interface wsgi --working-dir bench floor_app:app
"""

from __future__ import annotations

import os
from datetime import UTC

from bson import ObjectId
from bson.errors import InvalidId
from flask import Flask, Response, jsonify
from pymongo import MongoClient

client: MongoClient = MongoClient(
    os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017"), tz_aware=True, tzinfo=UTC
)
tasks = client[os.environ.get("MONGO_DB", "tasktracker")].tasks
app = Flask(__name__)


@app.get("/api/v1/tasks/<task_id>")
def get_task(task_id: str) -> Response | tuple[Response, int]:
    try:
        doc = tasks.find_one({"_id": ObjectId(task_id)})
    except InvalidId:
        doc = None
    if doc is None:
        return jsonify({"status": 404}), 404
    doc["id"] = str(doc.pop("_id"))
    return jsonify(doc)


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
