"""Resource API: projects, their members and their tasks (`/api/v1/projects`)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_actor, requires
from tasktracker.api.tasks import page_response, task_filter
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.schemas.projects import (
    MemberPage,
    MemberPath,
    MemberPublic,
    MemberPut,
    PageQuery,
    ProjectCreate,
    ProjectPage,
    ProjectPatch,
    ProjectPath,
    ProjectPublic,
)
from tasktracker.schemas.tasks import TaskListQuery, TaskPage, patch_changes
from tasktracker.services.registry import Services

TAG = Tag(name="projects", description="Projects, members and roles")
SECURITY = [{"bearer": []}]


def projects_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "projects", __name__, url_prefix="/api/v1/projects", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.post("", responses={201: ProjectPublic, 403: Problem, 409: Problem, 422: Problem})
    @requires(Access.USER, Scope.PROJECTS_WRITE)
    def create_project(body: ProjectCreate) -> Response:
        """Create a project; the caller becomes its owner. 409 when the key is taken."""
        view = c.projects.create(current_actor(), body.key, body.name, body.description)
        response = json_response(ProjectPublic.of(view), 201)
        response.headers["Location"] = f"{bp.url_prefix}/{view.project.key}"
        return response

    @bp.get("", responses={200: ProjectPage})
    @requires(Access.USER, Scope.PROJECTS_READ)
    def list_projects(query: PageQuery) -> Response:
        """The projects the caller belongs to (an admin: all)."""
        page = c.projects.list(current_actor(), cursor=query.cursor, limit=query.limit)
        return json_response(ProjectPage.of(page))

    @bp.get("/<project>", responses={200: ProjectPublic, 404: Problem})
    @requires(Access.USER, Scope.PROJECTS_READ)
    def get_project(path: ProjectPath) -> Response:
        """One project, by id or key."""
        return json_response(ProjectPublic.of(c.projects.get(current_actor(), path.project)))

    @bp.patch(
        "/<project>", responses={200: ProjectPublic, 403: Problem, 404: Problem, 409: Problem}
    )
    @requires(Access.USER, Scope.PROJECTS_WRITE)
    def update_project(path: ProjectPath, body: ProjectPatch) -> Response:  # type: ignore[valid-type]
        """Rename, describe, archive (read-only) or unarchive a project (owner)."""
        view = c.projects.update(current_actor(), path.project, patch_changes(body))
        return json_response(ProjectPublic.of(view))

    @bp.delete("/<project>", responses={204: None, 403: Problem, 404: Problem, 409: Problem})
    @requires(Access.USER, Scope.PROJECTS_WRITE)
    def delete_project(path: ProjectPath) -> tuple[str, int]:
        """Delete an archived project with its tasks (owner or admin)."""
        c.projects.delete(current_actor(), path.project)
        return "", 204

    @bp.get("/<project>/tasks", responses={200: TaskPage, 404: Problem, 422: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def project_tasks(path: ProjectPath, query: TaskListQuery) -> Response:
        """The project's tasks: the filters, sort orders and cursors of `GET /tasks`."""
        page = c.task_queries.list(
            current_actor(), task_filter(query), query.sort, query.cursor, query.limit,
            project=path.project,
        )  # fmt: skip
        return page_response(c, page)

    @bp.get("/<project>/members", responses={200: MemberPage, 404: Problem})
    @requires(Access.USER, Scope.PROJECTS_READ)
    def list_members(path: ProjectPath, query: PageQuery) -> Response:
        """The project's members and their roles, in user id order."""
        page = c.projects.members(
            current_actor(), path.project, cursor=query.cursor, limit=query.limit
        )
        return json_response(MemberPage.of(page))

    @bp.put(
        "/<project>/members/<user_id>",
        responses={200: MemberPublic, 201: MemberPublic, 403: Problem, 404: Problem, 409: Problem},
    )
    @requires(Access.USER, Scope.PROJECTS_WRITE)
    def put_member(path: MemberPath, body: MemberPut) -> Response:
        """Add a member or change their role (owner). 409 for the last owner's demotion."""
        view, created = c.projects.set_member(
            current_actor(), path.project, path.user_id, body.role
        )
        return json_response(MemberPublic.of(view), 201 if created else 200)

    @bp.delete(
        "/<project>/members/<user_id>",
        responses={204: None, 403: Problem, 404: Problem, 409: Problem},
    )
    @requires(Access.USER, Scope.PROJECTS_WRITE)
    def remove_member(path: MemberPath) -> tuple[str, int]:
        """Remove a member (owner), or leave the project (anyone). The last owner cannot."""
        c.projects.remove_member(current_actor(), path.project, path.user_id)
        return "", 204

    return bp
