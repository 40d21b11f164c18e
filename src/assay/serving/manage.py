"""Governance over HTTP: approvals, deployment changes, aliases and the audit log.

Each route names the caller (`RequestIdentities`: an API key, or a person behind a trusted proxy)
and checks the route's action before it reads anything else, so a caller without the role learns
nothing, not even whether a model exists. Then it parses the path, query and body strictly (a 422
names the field) and calls the same project function as the CLI, in a worker thread, through
`project.acting_as(identity)`: the function checks permissions and approvals again, and the audit
log records the caller (`key:NAME` or the proxy user). A deployment change reaches this server,
and every other, at its next poll of the deployment state; nothing restarts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assay.errors import RegistryError
from assay.project.approvals import ApprovalState, approval_state, approve, reject
from assay.project.audit import entry_dict, parse_since
from assay.project.deployment import (
    deploy,
    deployment_dict,
    deployment_history,
    history_dict,
    rollback,
)
from assay.project.models import check_alias_name, move_alias
from assay.project.review import review
from assay.project.workspace import ModelRef, Project
from assay.security.identity import Action, Identity
from assay.serving.identity import peer_of, request_headers
from assay.serving.request import RequestValidationError
from assay.serving.service import Service, error_answer

MAX_BODY_BYTES = 64 * 1024
MAX_AUDIT_LIMIT = 10_000
MAX_VERSION = 2**31 - 1  # the store's integer column
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")  # a model name, as `ModelRef` reads it
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
_ACTION = re.compile(r"[a-z][a-z0-9_.-]{0,63}")  # an audit action, e.g. alias.moved
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}")
_BODY_HINT = "send a JSON object with the fields of this route (GET /openapi.json describes each)"

Body = TypeVar("Body", bound=BaseModel)


# --- bodies --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:  # a text column cannot hold it (PostgreSQL)
            raise ValueError("must not contain a NUL character")
        return value


class DecisionBody(_Body):
    comment: str = Field(..., min_length=1, max_length=4000, description="What you checked, or why not (audit log).")

    @field_validator("comment")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say what you checked, not be blank")
        return value


class VersionBody(_Body):
    version: int = Field(..., ge=1, le=MAX_VERSION, description="The model version.")
    reason: str = Field("", max_length=2000, description="Why (kept in the audit log).")


class CanaryBody(VersionBody):
    percent: float = Field(..., gt=0, le=100, allow_inf_nan=False, description="Share of traffic, in (0, 100].")


class RollbackBody(_Body):
    target: Literal["production", "canary", "shadow"] = Field(
        ..., description="production: back to the model it replaced; canary or shadow: end it.")
    reason: str = Field("", max_length=2000, description="Why (kept in the audit log).")


# --- parsing at the edge ----------------------------------------------------------------


def _problem(where: str, field: str | None, problem: str) -> RequestValidationError:
    return RequestValidationError([{"in": where, "field": field, "problem": problem}], hint=_BODY_HINT)


def _path_name(request: Request) -> str:
    name = request.path_params["name"]
    if not _NAME.fullmatch(name):
        raise _problem("path", "name", "must be a model name: lowercase letters, digits, '.', '_' or '-'")
    return name


def _path_ref(request: Request) -> ModelRef:
    version = request.path_params["version"]
    if not _VERSION.fullmatch(version):
        raise _problem("path", "version", "must be a model version: a whole number from 1")
    return ModelRef(_path_name(request), int(version))


async def _body(request: Request, model: type[Body]) -> Body:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _problem("body", None, f"the body must be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return model.model_validate_json(b"".join(chunks))
    except ValidationError as exc:
        problems = [_body_problem(error) for error in exc.errors(include_url=False, include_input=False)]
        raise RequestValidationError(problems, hint=_BODY_HINT) from None


def _body_problem(error: Any) -> dict[str, Any]:
    field = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    if kind == "missing":
        problem = "is required"
    elif kind == "extra_forbidden":
        problem = "is not a field of this request"
    elif kind == "json_invalid":
        problem = f"the body is not JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
    elif kind == "model_type":
        problem = "the body must be a JSON object"
    else:
        message = error["msg"].removeprefix("Value error, ")
        problem = message[:1].lower() + message[1:]
    return {"in": "body", "field": field, "problem": problem}


def _audit_query(request: Request) -> dict[str, Any]:
    allowed = {"model", "subject", "since", "action", "limit"}
    problems, query = [], {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if key not in allowed:
            problems.append({"in": "query", "field": key, "problem": f"is not a parameter; use {', '.join(sorted(allowed))}"})
        elif len(values) > 1:
            problems.append({"in": "query", "field": key, "problem": "is given more than once"})
        else:
            query[key] = values[0]
    checks = {"model": (_NAME, "a model name"), "subject": (_SUBJECT, "a record, e.g. credit-default:1"),
              "action": (_ACTION, "an action, e.g. alias.moved")}
    for key, (pattern, what) in checks.items():
        if key in query and not pattern.fullmatch(query[key]):
            problems.append({"in": "query", "field": key, "problem": f"must be {what}"})
    if "model" in query and "subject" in query:
        problems.append({"in": "query", "field": "subject", "problem": "give model or subject, not both"})
    if "since" in query:
        try:
            query["since"] = parse_since(query["since"])
        except ValueError as exc:
            problems.append({"in": "query", "field": "since", "problem": str(exc)})
    limit = query.get("limit", "1000")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_AUDIT_LIMIT):
        problems.append({"in": "query", "field": "limit", "problem": f"must be a whole number in [1, {MAX_AUDIT_LIMIT}]"})
    else:
        query["limit"] = int(limit)
    if problems:
        raise RequestValidationError(problems, hint="see GET /openapi.json for the parameters of GET /v1/audit")
    return query


# --- routes ------------------------------------------------------------------------------


Work = Callable[[Service, Identity], Awaitable[Any]]


def add_management_routes(app: FastAPI, service: Callable[[], Service]) -> None:
    """Mount the governance routes on `app` (the service comes from `service()` per request)."""

    async def answer(request: Request, action: Action, work: Work) -> Response:
        svc = service()
        request_id = svc.request_id(request.headers.get("x-request-id"))
        try:
            caller = await svc.identities.identify(request_headers(request.scope["headers"]), peer_of(request.scope))
            identity = caller.require(action)
            document = await work(svc, identity)
            status, headers = 200, {"x-request-id": request_id}
        except Exception as exc:  # noqa: BLE001 - the edge: every error is an answer (unknown ones: 500, logged)
            status, headers, document = error_answer(exc, request_id)
        return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)

    def acting(svc: Service, identity: Identity) -> Project:
        return svc.project.acting_as(identity)

    @app.get("/v1/models/{name}/{version}/approvals", summary="A model version's approvals (role viewer)",
             openapi_extra=_operation(_MODEL_PATH))
    async def approvals(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            ref = _path_ref(request)
            return (await asyncio.to_thread(approval_state, acting(svc, identity), ref)).to_dict()
        return await answer(request, Action.READ_MODELS, work)

    @app.get("/v1/models/{name}/{version}/review", summary="What a reviewer reads before approving: card, gates, "
             "waivers, the diff against production, approvals (role viewer)", openapi_extra=_operation(_MODEL_PATH))
    async def review_version(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            ref = _path_ref(request)
            return (await asyncio.to_thread(review, acting(svc, identity), ref)).to_dict()
        return await answer(request, Action.READ_MODELS, work)

    async def decide(request: Request, decision: Callable[..., ApprovalState]) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            ref = _path_ref(request)
            body = await _body(request, DecisionBody)
            return (await asyncio.to_thread(decision, acting(svc, identity), ref, comment=body.comment)).to_dict()
        return await answer(request, Action.APPROVE, work)

    @app.post("/v1/models/{name}/{version}/approve", summary="Approve a model version (role approver)",
              openapi_extra=_operation(_MODEL_PATH, DecisionBody))
    async def approve_version(request: Request) -> Response:
        return await decide(request, approve)

    @app.post("/v1/models/{name}/{version}/reject", summary="Reject a model version (role approver)",
              openapi_extra=_operation(_MODEL_PATH, DecisionBody))
    async def reject_version(request: Request) -> Response:
        return await decide(request, reject)

    @app.put("/v1/models/{name}/aliases/{alias}", summary="Point an alias at a version (trainer or deployer; "
             "a protected alias needs deployer and the approvals)", openapi_extra=_operation(_ALIAS_PATH, VersionBody))
    async def alias(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            name = _path_name(request)
            try:
                alias = check_alias_name(request.path_params["alias"])
            except RegistryError as exc:
                raise _problem("path", "alias", str(exc).splitlines()[0]) from None
            body = await _body(request, VersionBody)
            change = await asyncio.to_thread(move_alias, acting(svc, identity), ModelRef(name, body.version), alias,
                                             reason=body.reason)
            return {"model": change.model_name, "alias": change.alias, "version": change.version,
                    "previous_version": change.previous_version, "actor": change.actor, "reason": change.reason,
                    "at": change.at}
        # The edge asks for models:manage; move_alias asks for deployments:change too when the alias is protected.
        return await answer(request, Action.MANAGE_MODELS, work)

    @app.get("/v1/deployments/{name}", summary="What serves a model now, and its latest changes (role viewer)",
             openapi_extra=_operation(_NAME_PATH))
    async def deployment(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            name = _path_name(request)

            def read() -> dict[str, Any]:
                project = acting(svc, identity)
                project.resolve_model(name)  # 404 for a model that does not exist
                state = project.metadata.get_deployment(name)
                return {**deployment_dict(state), "history": [history_dict(e) for e in deployment_history(project, name)]}
            return await asyncio.to_thread(read)
        return await answer(request, Action.READ_DEPLOYMENTS, work)

    async def change(request: Request, mode: Literal["promote", "canary", "shadow"],
                     body_type: type[VersionBody]) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            name = _path_name(request)
            body = await _body(request, body_type)
            percent = body.percent if isinstance(body, CanaryBody) else None
            done = await asyncio.to_thread(deploy, acting(svc, identity), f"{name}:{body.version}", mode=mode,
                                           percent=percent, reason=body.reason)
            return {"action": done.action, "message": done.message, **deployment_dict(done.deployment)}
        return await answer(request, Action.DEPLOY, work)

    @app.post("/v1/deployments/{name}/promote", summary="Make a version production; it needs its approvals "
              "(role deployer)", openapi_extra=_operation(_NAME_PATH, VersionBody))
    async def promote(request: Request) -> Response:
        return await change(request, "promote", VersionBody)

    @app.post("/v1/deployments/{name}/canary", summary="Send a share of traffic to a version, guarded "
              "(role deployer)", openapi_extra=_operation(_NAME_PATH, CanaryBody))
    async def canary(request: Request) -> Response:
        return await change(request, "canary", CanaryBody)

    @app.post("/v1/deployments/{name}/shadow", summary="Score a copy of live traffic with a version "
              "(role deployer)", openapi_extra=_operation(_NAME_PATH, VersionBody))
    async def shadow(request: Request) -> Response:
        return await change(request, "shadow", VersionBody)

    @app.post("/v1/deployments/{name}/rollback", summary="Roll production back, or end the canary or the shadow "
              "(role deployer)", openapi_extra=_operation(_NAME_PATH, RollbackBody))
    async def roll_back(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            name = _path_name(request)
            body = await _body(request, RollbackBody)

            def back() -> dict[str, Any]:
                project = acting(svc, identity)
                project.resolve_model(name)  # 404 for a model that does not exist
                done = rollback(project, name, target=body.target, reason=body.reason)
                return {"action": done.action, "message": done.message, **deployment_dict(done.deployment)}
            return await asyncio.to_thread(back)
        return await answer(request, Action.DEPLOY, work)

    @app.get("/v1/audit", summary="The audit log with its chain hashes, oldest first (role viewer)",
             openapi_extra=_operation(_AUDIT_QUERY))
    async def audit(request: Request) -> Response:
        async def work(svc: Service, identity: Identity) -> Any:
            query = _audit_query(request)
            entries = await asyncio.to_thread(svc.project.metadata.list_audit, **query)
            return {"entries": [entry_dict(e) for e in entries], "count": len(entries)}
        return await answer(request, Action.READ_LOGS, work)


# --- the OpenAPI description ---------------------------------------------------------------

_ERROR = {"type": "object", "properties": {"error": {"type": "object"}, "request_id": {"type": "string"}}}


def _path(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": text}


_NAME_SCHEMA = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,127}$"}
_NAME_PATH = [_path("name", _NAME_SCHEMA, "The model name.")]
_MODEL_PATH = [*_NAME_PATH, _path("version", {"type": "integer", "minimum": 1, "maximum": 999_999_999},
                                  "The model version.")]
_ALIAS_PATH = [*_NAME_PATH, _path("alias", {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                                  "The alias, e.g. staging or production.")]
_AUDIT_QUERY = [
    {"name": "model", "in": "query", "required": False, "schema": _NAME_SCHEMA,
     "description": "Only entries about this model: its name, every version NAME:N and alias NAME@A."},
    {"name": "subject", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Only entries about this record (e.g. credit-default:1); not with model."},
    {"name": "since", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Only entries at or after this time (ISO 8601; UTC if no offset)."},
    {"name": "action", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Only entries of this action (e.g. alias.moved)."},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_LIMIT, "default": 1000},
     "description": "At most this many entries, oldest first."},
]
_RESPONSES = {
    str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    for code, text in ((401, "No valid key, and no user from a trusted proxy"),
                       (403, "The caller's roles do not allow this"), (404, "No such model or version"),
                       (409, "Refused by governance: approvals missing, four-eyes, or a deployment rule"),
                       (422, "A path, query or body field is not valid (the problems name it)"))
}


def _operation(parameters: list[dict[str, Any]], body: type[BaseModel] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"parameters": parameters, "responses": _RESPONSES}
    if body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": body.model_json_schema()}}}
    return operation


__all__ = ["CanaryBody", "DecisionBody", "RollbackBody", "VersionBody", "add_management_routes"]
