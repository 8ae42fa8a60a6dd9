"""The base request model, problem details and small shared shapes."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo


@functools.cache
def _plain_schema(model: type[BaseModel]) -> dict[str, Any]:
    return BaseModel.model_json_schema.__func__(model)  # type: ignore[attr-defined]


class Strict(BaseModel):
    """A request model: unknown fields are refused and types enforced, so an operator object
    such as `{"$ne": null}` never reaches MongoDB."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # flask-openapi3 asks for a query model's schema on every request (~1-3 ms each); the
        # argument-less form it uses there is built once per model and only ever read.
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _plain_schema(cls)


def partial_model(base: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """`base` with every field optional and defaulting to None: a PATCH body whose
    `model_fields_set` says what the client sent."""
    fields: dict[str, Any] = {
        field: (info.annotation | None, FieldInfo.merge_field_infos(info, default=None))
        for field, info in base.model_fields.items()
    }
    model = create_model(name, __base__=Strict, __doc__=doc, **fields)
    model.__module__ = base.__module__
    return model


class Problem(BaseModel):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class Message(BaseModel):
    message: str
