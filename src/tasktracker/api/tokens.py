"""Resource API: personal access tokens (`/api/v1/users/me/tokens`, and an admin's view of any
user's under `/api/v1/users/{id}/tokens`).

Every route here needs a session: a token can neither mint, list nor revoke tokens, so a leaked
one cannot make itself a successor.
"""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import SESSION_ONLY, Access, current_user, requires
from tasktracker.schemas.common import Problem
from tasktracker.schemas.tokens import (
    TokenCreated,
    TokenIn,
    TokenList,
    TokenPath,
    TokenPublic,
    UserTokenPath,
)
from tasktracker.schemas.users import UserIdPath
from tasktracker.services.registry import Services

TAG = Tag(
    name="tokens",
    description="Personal access tokens for scripts and integrations: "
    "`Authorization: Bearer ttp_…`, limited to their scopes",
)
SECURITY = [{"bearer": []}]
SESSION_NEEDED = {401: Problem, 403: Problem}


def tokens_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "tokens", __name__, url_prefix="/api/v1/users", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.post(
        "/me/tokens", responses={201: TokenCreated, 409: Problem, 422: Problem, **SESSION_NEEDED}
    )
    @requires(Access.USER, SESSION_ONLY)
    def create_token(body: TokenIn) -> Response:
        """Create a token. Its secret (`token`) is in this answer only: store it now."""
        token, secret = c.tokens.create(
            current_user(), body.name, list(body.scopes), body.expires_in_days
        )
        response = json_response(TokenCreated.of(token, secret), 201)
        response.headers["Location"] = f"{bp.url_prefix}/me/tokens/{token.id}"
        return response

    @bp.get("/me/tokens", responses={200: TokenList, **SESSION_NEEDED})
    @requires(Access.USER, SESSION_ONLY)
    def list_tokens() -> Response:
        """The caller's tokens (expired ones too, for 30 days), never their secrets."""
        tokens = c.tokens.list(current_user().id)
        return json_response(TokenList(items=[TokenPublic.of(t) for t in tokens]))

    @bp.delete("/me/tokens/<token_id>", responses={204: None, 404: Problem, **SESSION_NEEDED})
    @requires(Access.USER, SESSION_ONLY)
    def revoke_token(path: TokenPath) -> tuple[str, int]:
        """Revoke one of the caller's tokens: it stops working at once."""
        c.tokens.revoke(current_user().id, path.token_id)
        return "", 204

    @bp.get("/<user_id>/tokens", responses={200: TokenList, 404: Problem, **SESSION_NEEDED})
    @requires(Access.ADMIN, SESSION_ONLY)
    def list_user_tokens(path: UserIdPath) -> Response:
        """A user's tokens (admin), never their secrets."""
        tokens = c.tokens.list_for(current_user(), path.user_id)
        return json_response(TokenList(items=[TokenPublic.of(t) for t in tokens]))

    @bp.delete(
        "/<user_id>/tokens/<token_id>", responses={204: None, 404: Problem, **SESSION_NEEDED}
    )
    @requires(Access.ADMIN, SESSION_ONLY)
    def revoke_user_token(path: UserTokenPath) -> tuple[str, int]:
        """Revoke a user's token (admin): it stops working at once."""
        c.tokens.revoke_for(current_user(), path.user_id, path.token_id)
        return "", 204

    return bp
