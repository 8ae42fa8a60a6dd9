"""The original project's routes, kept as a public contract: same paths, payloads and success
shapes. Each handler is a thin adapter over the same services as the resource API; the
deliberate differences are listed in the README ("Differences from the original")."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.legacy.scheduler import register_scheduler_routes
from tasktracker.api.legacy.tasks import register_task_routes
from tasktracker.api.legacy.users import register_user_routes
from tasktracker.api.rate_limits import RouteLimits
from tasktracker.services.registry import Services

TAG = Tag(name="legacy", description="The original project's routes (kept for compatibility)")


def legacy_api(c: Services, limits: RouteLimits) -> APIBlueprint:
    """One blueprint named `legacy` (endpoints `legacy.<view>`, as rate limits, metrics and the
    401 wording expect)."""
    bp = APIBlueprint("legacy", __name__, abp_tags=[TAG])

    @bp.get("/")
    def welcome() -> dict:
        """The original's welcome message."""
        return {"message": "Welcome to the Task Tracker !"}

    register_user_routes(bp, c, limits)
    register_task_routes(bp, c)
    register_scheduler_routes(bp, c)
    return bp
