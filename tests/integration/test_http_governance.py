"""Governance over the HTTP API, as a client meets it: a real server on 127.0.0.1, real keys, a real
proxy header. Who may call what (the role x route matrix), the approval flow end to end, the
proxy's user header and when it is trusted, and four-eyes."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from assay.project.demo import run_demo
from assay.project.pipeline import train_project
from assay.project.settings import Settings
from assay.project.workspace import Project
from tests.integration.serving_support import (
    ROLES,
    Server,
    make_keys,
    predict,
    sample_rows,
    serving,
    set_serving,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = {"poll_interval_s": 0.2, "key_cache_s": 0.2, "prediction_log": {"flush_interval_s": 0.2}}
MODEL = "credit-default"
TRAINER = "carol"  # trained versions 2 and 3; under four-eyes she may not approve them
ACCESS = {
    "users": {"alice": ["approver"], TRAINER: ["trainer", "approver"], "scorer": ["predict"]},
    "default_roles": ["viewer"],
    "proxy": {"user_header": "X-Forwarded-User"},  # trusted_proxies: the default, 127.0.0.1 and ::1
}


def _set_access(project_dir: Path, access: dict[str, Any]) -> None:
    path = project_dir / "assay.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["access"] = access
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 in production (the demo's, approved by its reviewer); versions 2 (the flow) and 3
    (the matrix's approvals) trained by carol and not approved; people and a proxy under `access`."""
    directory = run_demo(tmp_path_factory.mktemp("governance") / "demo", rows=2000).project_dir
    set_serving(directory, **FAST)
    with Project.open(directory, settings=Settings(actor=TRAINER)) as project:
        versions = [train_project(project).model.version for _ in range(2)]
    assert versions == [2, 3]
    _set_access(directory, ACCESS)  # last: from here on the project is no longer in local (all-admin) mode
    return directory


@pytest.fixture(scope="module")
def keys(project_dir: Path) -> dict[str, str]:
    return make_keys(project_dir)


@pytest.fixture(scope="module")
def server(project_dir: Path, keys: dict[str, str]) -> Iterator[Server]:
    with serving(project_dir) as running:
        yield running


def _call(server: Server, method: str, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=30)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _production(project_dir: Path) -> int:
    with Project.open(project_dir) as project:
        production = project.metadata.get_deployment(MODEL).production
    assert production is not None
    return production


def _decisions(project_dir: Path, version: int) -> list[tuple[str, str]]:
    with Project.open(project_dir) as project:
        return [(a.decision, a.actor) for a in project.metadata.list_approvals(MODEL, version)]


# --- who may call what -------------------------------------------------------------------------

READERS = {"viewer", "trainer", "approver", "deployer", "admin"}
# Written out by hand from the intended policy (docs/governance.md#http-api), not derived from PERMISSIONS.
ALLOWED: dict[str, set[str]] = {
    "GET /metrics": READERS,
    "GET /v1/models": READERS,
    "GET /openapi.json": READERS,
    "POST /v1/predict": {"predict", "admin"},
    "GET approvals": READERS,
    "GET review": READERS,
    "POST approve": {"approver", "admin"},
    "POST reject": {"approver", "admin"},
    "GET deployment": READERS,
    "POST promote": {"deployer", "admin"},
    "POST canary": {"deployer", "admin"},
    "POST shadow": {"deployer", "admin"},
    "POST rollback": {"deployer", "admin"},
    "PUT alias": {"trainer", "deployer", "admin"},
    "GET audit": READERS,
}
PREDICTION_ROUTES = {"GET /metrics", "GET /v1/models", "GET /openapi.json", "POST /v1/predict"}


def test_every_route_allows_exactly_the_roles_in_the_table(server: Server, project_dir: Path,
                                                            keys: dict[str, str]) -> None:
    rows = sample_rows(project_dir, 1)

    def expect_409(code: str) -> Callable[[httpx.Response, str], None]:
        def check(response: httpx.Response, role: str) -> None:  # refused by governance: the role check passed
            assert response.status_code == 409 and response.json()["error"]["code"] == code, response.text
        return check

    def ok(response: httpx.Response, role: str) -> None:
        assert response.status_code == 200, response.text

    def decided(decision: str) -> Callable[[httpx.Response, str], None]:
        def check(response: httpx.Response, role: str) -> None:
            assert response.status_code == 200, response.text
            assert response.json()["decisions"][-1]["actor"] == f"key:test-{role}"
            assert (decision, f"key:test-{role}") in _decisions(project_dir, 3)
        return check

    def alias_moved(response: httpx.Response, role: str) -> None:
        assert response.status_code == 200, response.text
        assert (response.json()["alias"], response.json()["version"]) == ("staging", 1)
        assert response.json()["actor"] == f"key:test-{role}"

    def reviewed(response: httpx.Response, role: str) -> None:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["ref"] == f"{MODEL}:3" and body["production"] == f"{MODEL}:{production}"
        assert body["policy"]["required"] == 1 and "gates" in body and "spec_diff" in body["diff"]

    def audit_listed(response: httpx.Response, role: str) -> None:
        assert response.status_code == 200, response.text
        assert all(len(entry["hash"]) == 64 for entry in response.json()["entries"]) and response.json()["count"] > 0

    production = _production(project_dir)
    routes: dict[str, tuple[str, str, Any, Callable[[httpx.Response, str], None]]] = {
        "GET /metrics": ("GET", "/metrics", None, ok),
        "GET /v1/models": ("GET", "/v1/models", None, ok),
        "GET /openapi.json": ("GET", "/openapi.json", None, ok),
        "POST /v1/predict": ("POST", "/v1/predict", {"rows": rows}, ok),
        "GET approvals": ("GET", f"/v1/models/{MODEL}/3/approvals", None, ok),
        "GET review": ("GET", f"/v1/models/{MODEL}/3/review", None, reviewed),
        "POST approve": ("POST", f"/v1/models/{MODEL}/3/approve", {"comment": "matrix"}, decided("approve")),
        "POST reject": ("POST", f"/v1/models/{MODEL}/3/reject", {"comment": "matrix"}, decided("reject")),
        "GET deployment": ("GET", f"/v1/deployments/{MODEL}", None, ok),
        # The deployment changes are refused after the role check, so the matrix changes nothing that serves.
        "POST promote": ("POST", f"/v1/deployments/{MODEL}/promote", {"version": production},
                         expect_409("deployment-error")),
        "POST canary": ("POST", f"/v1/deployments/{MODEL}/canary", {"version": production, "percent": 5},
                        expect_409("deployment-error")),
        "POST shadow": ("POST", f"/v1/deployments/{MODEL}/shadow", {"version": production},
                        expect_409("deployment-error")),
        "POST rollback": ("POST", f"/v1/deployments/{MODEL}/rollback", {"target": "shadow"},
                          expect_409("deployment-error")),
        "PUT alias": ("PUT", f"/v1/models/{MODEL}/aliases/staging", {"version": 1, "reason": "matrix"}, alias_moved),
        "GET audit": ("GET", f"/v1/audit?model={MODEL}&limit=50", None, audit_listed),
    }
    assert set(routes) == set(ALLOWED) and set(keys) == set(ROLES)
    for route, (method, path, body, check) in routes.items():
        for role in ROLES:
            response = _call(server, method, path, _bearer(keys[role]), body)
            if role in ALLOWED[route]:
                check(response, role)
            else:  # a key's refusal names the key on the prediction routes, the identity on the others
                code = "auth-forbidden" if route in PREDICTION_ROUTES else "permission-denied"
                assert response.status_code == 403, (route, role, response.text)
                assert response.json()["error"]["code"] == code, (route, role, response.text)
        anonymous = _call(server, method, path, {}, body)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer", (route, anonymous.text)


def test_management_routes_are_in_the_openapi_document(server: Server, keys: dict[str, str]) -> None:
    paths = _call(server, "GET", "/openapi.json", _bearer(keys["viewer"])).json()["paths"]
    assert "get" in paths["/v1/models/{name}/{version}/approvals"]
    for path in ("/v1/models/{name}/{version}/approve", "/v1/models/{name}/{version}/reject",
                 "/v1/deployments/{name}/promote", "/v1/deployments/{name}/canary", "/v1/deployments/{name}/shadow",
                 "/v1/deployments/{name}/rollback"):
        operation = paths[path]["post"]
        assert {"401", "403", "404", "409", "422"} <= set(operation["responses"]), path
        assert operation["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] is False
    assert "put" in paths["/v1/models/{name}/aliases/{alias}"] and "get" in paths["/v1/deployments/{name}"]
    assert {p["name"] for p in paths["/v1/audit"]["get"]["parameters"]} == {"model", "subject", "since", "action", "limit"}


def test_bad_input_is_a_422_naming_the_field_never_a_500(server: Server, keys: dict[str, str]) -> None:
    admin = _bearer(keys["admin"])
    cases = [
        ("POST", f"/v1/deployments/{MODEL}/canary", {"version": 2}, "percent"),
        ("POST", f"/v1/deployments/{MODEL}/canary", {"version": 2, "percent": 150}, "percent"),
        ("POST", f"/v1/deployments/{MODEL}/promote", {"version": "2"}, "version"),
        ("POST", f"/v1/deployments/{MODEL}/promote", {"version": 2, "force": True}, "force"),
        ("POST", f"/v1/deployments/{MODEL}/rollback", {"target": "everything"}, "target"),
        ("POST", f"/v1/models/{MODEL}/2/approve", {"comment": "   "}, "comment"),
        ("POST", f"/v1/models/{MODEL}/two/approve", {"comment": "ok"}, "version"),
        ("PUT", f"/v1/models/{MODEL}/aliases/-bad", {"version": 1}, "alias"),
        ("GET", "/v1/audit?limit=0", None, "limit"),
        ("GET", "/v1/audit?since=yesterday", None, "since"),
        ("GET", "/v1/audit?color=blue", None, "color"),
    ]
    for method, path, body, field in cases:
        response = _call(server, method, path, admin, body)
        assert response.status_code == 422, (path, body, response.text)
        assert field in {p["field"] for p in response.json()["error"]["problems"]}, (path, body, response.text)
    not_json = httpx.post(f"{server.url}/v1/deployments/{MODEL}/promote", content=b"{", headers=admin, timeout=10)
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["error"]["message"]
    missing = _call(server, "GET", "/v1/models/no-such-model/1/approvals", admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not-found"
    assert _call(server, "POST", "/v1/deployments/no-such-model/rollback", admin, {"target": "production"}).status_code == 404


# --- the approval flow --------------------------------------------------------------------------


def test_promotion_needs_the_deployer_role_and_an_approval_and_then_serves(
    server: Server, project_dir: Path, keys: dict[str, str]
) -> None:
    promote = f"/v1/deployments/{MODEL}/promote"
    body = {"version": 2, "reason": "over HTTP"}
    refused = _call(server, "POST", promote, _bearer(keys["trainer"]), body)
    assert refused.status_code == 403, refused.text

    unapproved = _call(server, "POST", promote, _bearer(keys["deployer"]), body)
    assert unapproved.status_code == 409, unapproved.text
    error = unapproved.json()["error"]
    assert error["code"] == "approval-required"
    assert "0 of 1 approvals" in error["message"] and f"other than {TRAINER}" in error["message"]

    approved = _call(server, "POST", f"/v1/models/{MODEL}/2/approve", _bearer(keys["approver"]),
                     {"comment": "card, gates and lineage reviewed"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["met"] is True and approved.json()["approved_by"] == ["key:test-approver"]
    audit = _call(server, "GET", f"/v1/audit?subject={MODEL}:2&action=model.approved", _bearer(keys["viewer"])).json()
    assert [e["actor"] for e in audit["entries"]] == ["key:test-approver"]
    assert audit["entries"][0]["details"]["comment"] == "card, gates and lineage reviewed"

    promoted = _call(server, "POST", promote, _bearer(keys["deployer"]), body)
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["production"], promoted.json()["updated_by"]) == (2, "key:test-deployer")
    last = _call(server, "GET", f"/v1/deployments/{MODEL}", _bearer(keys["viewer"])).json()["history"][-1]
    assert (last["action"], last["actor"], last["reason"]) == ("deployment.promote", "key:test-deployer", "over HTTP")

    rows = sample_rows(project_dir, 1)
    wait_until(lambda: predict(server, keys["predict"], rows).json().get("version") == 2)  # its own poll, no restart


# --- the proxy's user header ----------------------------------------------------------------------


def test_a_user_named_by_the_trusted_proxy_acts_with_their_own_roles(
    server: Server, project_dir: Path, keys: dict[str, str]
) -> None:
    approve = f"/v1/models/{MODEL}/1/approve"
    as_alice = {"X-Forwarded-User": "alice"}
    answer = _call(server, "POST", approve, as_alice, {"comment": "second look at the production model"})
    assert answer.status_code == 200, answer.text
    assert ("approve", "alice") in _decisions(project_dir, 1)
    audit = _call(server, "GET", f"/v1/audit?subject={MODEL}:1&action=model.approved", _bearer(keys["viewer"])).json()
    assert "alice" in [e["actor"] for e in audit["entries"]]
    # alice is an approver: she may read, but not deploy or predict.
    assert _call(server, "GET", f"/v1/deployments/{MODEL}", as_alice).status_code == 200
    denied = _call(server, "POST", f"/v1/deployments/{MODEL}/rollback", as_alice, {"target": "production"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission-denied"
    rows = sample_rows(project_dir, 1)
    assert _call(server, "POST", "/v1/predict", as_alice, {"rows": rows}).status_code == 403
    assert _call(server, "POST", "/v1/predict", {"X-Forwarded-User": "scorer"}, {"rows": rows}).status_code == 200

    # Someone not under access.users holds default_roles only (viewer).
    stranger = {"X-Forwarded-User": "mallory"}
    assert _call(server, "GET", f"/v1/deployments/{MODEL}", stranger).status_code == 200
    refused = _call(server, "POST", approve, stranger, {"comment": "looks fine"})
    assert refused.status_code == 403 and "mallory (roles: viewer)" in refused.json()["error"]["message"]

    # An API key wins over the header; an empty header or a key's actor name is no identity.
    keyed = _call(server, "POST", approve, {**as_alice, **_bearer(keys["viewer"])}, {"comment": "x"})
    assert keyed.status_code == 403 and "key:test-viewer (roles: viewer)" in keyed.json()["error"]["message"]
    assert _call(server, "GET", "/v1/models", {"X-Forwarded-User": ""}).status_code == 401
    impostor = _call(server, "GET", "/v1/models", {"X-Forwarded-User": "key:test-admin"})
    assert impostor.status_code == 401 and impostor.json()["error"]["code"] == "auth-invalid-proxy-user"


def test_whoever_trained_a_model_may_not_approve_it_over_http_either(server: Server) -> None:
    answer = _call(server, "POST", f"/v1/models/{MODEL}/2/approve", {"X-Forwarded-User": TRAINER},
                   {"comment": "my own model"})
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "self-approval", answer.text
    assert "four-eyes" in answer.json()["error"]["message"]


def _copy_with_proxy(project_dir: Path, target: Path, proxy: dict[str, Any]) -> Path:
    shutil.copytree(project_dir, target, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    _set_access(target, {**ACCESS, "proxy": proxy})
    return target


def test_the_user_header_counts_only_from_a_trusted_proxy_and_only_when_named(
    project_dir: Path, server: Server, tmp_path: Path
) -> None:
    approve = f"/v1/models/{MODEL}/1/approve"
    request = ({"X-Forwarded-User": "alice"}, {"comment": "from somewhere else"})
    untrusted = _copy_with_proxy(project_dir, tmp_path / "untrusted",
                                 {"user_header": "X-Forwarded-User", "trusted_proxies": ["10.0.0.0/8"]})
    decisions_before = _decisions(untrusted, 1)
    with serving(untrusted) as other:
        answers = [_call(other, "POST", approve, *request) for _ in range(3)]
        log = other.log()
    assert [a.status_code for a in answers] == [401, 401, 401] and answers[0].json()["error"]["code"] == "auth-missing-key"
    ignored = [line for line in log.splitlines() if "auth.proxy_header_ignored" in line]
    assert len(ignored) == 1 and '"warning"' in ignored[0] and "alice" not in log  # once, without the value

    off = _copy_with_proxy(project_dir, tmp_path / "off", {"user_header": None})
    with serving(off) as other:
        assert _call(other, "POST", approve, *request).status_code == 401
    for directory in (untrusted, off):  # nothing was recorded in alice's name
        assert _decisions(directory, 1) == decisions_before


def test_a_changed_access_section_applies_without_a_restart(project_dir: Path, server: Server, tmp_path: Path) -> None:
    import time

    folder = _copy_with_proxy(project_dir, tmp_path / "live", ACCESS["proxy"])
    deployments = f"/v1/deployments/{MODEL}"
    as_dave = {"X-Forwarded-User": "dave"}
    with serving(folder) as other:
        assert _call(other, "GET", deployments, as_dave).status_code == 200  # not listed: default_roles (viewer)
        _set_access(folder, {**ACCESS, "default_roles": []})  # strangers lose every role
        for _ in range(150):  # bounded: the server polls every 0.2 s
            if _call(other, "GET", deployments, as_dave).status_code == 403:
                break
            time.sleep(0.1)
        assert _call(other, "GET", deployments, as_dave).status_code == 403
        (folder / "assay.yaml").write_text("access: [not, a, mapping\n")  # a broken edit keeps what was loaded
        for _ in range(150):
            if '"access.reload_failed"' in other.log():
                break
            time.sleep(0.1)
        assert _call(other, "GET", deployments, {"X-Forwarded-User": "alice"}).status_code == 200
        assert _call(other, "GET", deployments, as_dave).status_code == 403
        log = other.log()
    assert '"access.reloaded"' in log and '"access.reload_failed"' in log
