"""Responses rendered from the response models, so the JSON is what the OpenAPI schema says."""

from __future__ import annotations

from flask import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status: int = 200) -> Response:
    """`model` serialised by pydantic (ISO 8601 times, enums as values, field aliases)."""
    return Response(
        model.model_dump_json(by_alias=True), status=status, mimetype="application/json"
    )
