"""`assay serve` as a client meets it: a real server process on 127.0.0.1, real models, real files."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.project.demo import run_demo
from assay.project.deployment import deploy, rollback
from assay.project.pipeline import train_project
from assay.project.workspace import Project
from assay.serving.predlog import read_prediction_log
from tests.governance_support import approve_as_reviewer
from tests.integration.serving_support import (
    Server,
    make_keys,
    predict,
    sample_rows,
    serving,
    set_serving,
    use_flaky_model,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = {"poll_interval_s": 0.2, "key_cache_s": 0.2,
        "prediction_log": {"flush_interval_s": 0.2},
        "canary": {"check_interval_s": 0.2, "min_requests": 20, "max_p99_ms": 5000}}


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project: one model, promoted to production by `assay demo` itself."""
    directory = run_demo(tmp_path_factory.mktemp("serve") / "demo", rows=4000).project_dir
    set_serving(directory, **FAST)
    return directory


@pytest.fixture(scope="module")
def keys(base_project: Path) -> dict[str, str]:
    return make_keys(base_project)


@pytest.fixture(scope="module")
def server(base_project: Path, keys: dict[str, str]) -> Iterator[Server]:
    with serving(base_project) as running:
        yield running


@pytest.fixture(scope="module")
def flaky_project(base_project: Path, keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 (the demo's) in production and version 2, a model that fails on demand."""
    directory = tmp_path_factory.mktemp("flaky") / "demo"
    shutil.copytree(base_project, directory, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    use_flaky_model(directory)
    set_serving(directory, max_rows_per_request=100, batching={"max_batch_rows": 100, "max_queue_rows": 300})
    with Project.open(directory) as project:
        result = train_project(project)
    assert result.model.version == 2, result.model
    approve_as_reviewer(directory, "credit-default:2")  # production is protected (the default policy)
    return directory


@pytest.fixture(scope="module")
def flaky_server(flaky_project: Path) -> Iterator[Server]:
    mode = flaky_project / "flaky_mode"
    mode.write_text("ok")
    with serving(flaky_project, env={"FLAKY_MODE_FILE": str(mode)}) as running:
        yield running


def _served(server: Server, key: str) -> dict[str, Any]:
    return httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()


def _converged(server: Server, key: str, **expected: Any) -> bool:
    routes = {entry["route"]: entry["version"] for entry in _served(server, key)["served"]}
    return all(routes.get(route) == version for route, version in expected.items())


# --- the contract ------------------------------------------------------------------


def test_demo_project_serves_at_once_and_answers_with_the_production_model(server: Server, keys: dict[str, str]) -> None:
    rows = sample_rows(server.project_dir, 3)
    response = predict(server, keys["predict"], rows)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1 and body["route"] == "production" and body["fallback"] is False
    assert len(body["predictions"]) == 3 and all(0 <= p <= 1 for p in body["predictions"])
    assert body["classes"] == [0, 1] and response.headers["x-request-id"] == body["request_id"]
    # The served numbers are the registered model's own (calibrated) probabilities.
    from assay.project.calibrated import load_registered
    from assay.serving.request import RowSchema, model_frame

    with Project.open(server.project_dir) as project:
        model = project.resolve_model("credit-default@production")
        schema = RowSchema(model.signature)
        expected = load_registered(project, model).predict(model_frame([schema.check_rows(rows)], schema.columns))
    assert body["predictions"] == pytest.approx(expected[:, 1].tolist(), abs=1e-12)


def test_every_endpoint_but_health_needs_a_key_whose_role_allows_it(server: Server, keys: dict[str, str]) -> None:
    rows = sample_rows(server.project_dir, 1)
    calls = {
        "predict": lambda h: httpx.post(f"{server.url}/v1/predict", json={"rows": rows}, headers=h, timeout=10),
        "models": lambda h: httpx.get(f"{server.url}/v1/models", headers=h, timeout=10),
        "metrics": lambda h: httpx.get(f"{server.url}/metrics", headers=h, timeout=10),
        "openapi": lambda h: httpx.get(f"{server.url}/openapi.json", headers=h, timeout=10),
    }
    readers = {"viewer", "trainer", "approver", "deployer", "admin"}
    allowed = {"predict": {"predict", "admin"}, "models": readers, "metrics": readers, "openapi": readers}
    assert set(keys) == readers | {"predict"}
    for endpoint, call in calls.items():
        for role, key in keys.items():
            status = call({"Authorization": f"Bearer {key}"}).status_code
            assert status == (200 if role in allowed[endpoint] else 403), (endpoint, role, status)
        missing = call({})
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert call({"Authorization": "Basic abc"}).status_code == 401
        assert call({"Authorization": "Bearer ak_0000000000000000_" + "0" * 64}).status_code == 401
        assert call({"Authorization": f"Bearer {keys['admin']}x"}).status_code == 401
    for path in ("/healthz", "/readyz"):
        assert httpx.get(server.url + path, timeout=10).status_code == 200


def test_a_revoked_key_stops_working_without_a_restart(server: Server) -> None:
    with Project.open(server.project_dir) as project:
        from assay.project.access import create_key, revoke_key

        key, record = create_key(project, role="predict", name="short-lived")
    rows = sample_rows(server.project_dir, 1)
    assert predict(server, key, rows).status_code == 200
    with Project.open(server.project_dir) as project:
        revoke_key(project, record.id)
    wait_until(lambda: predict(server, key, rows).status_code == 401, timeout_s=10)


def test_bad_rows_get_422_naming_row_and_field_and_never_a_500(server: Server, keys: dict[str, str]) -> None:
    good = sample_rows(server.project_dir, 3)
    wrong_type = [dict(good[0]), {**good[1], "amount": "lots"}, {k: v for k, v in good[2].items() if k != "term_months"}]
    response = predict(server, keys["predict"], wrong_type)
    assert response.status_code == 422
    problems = response.json()["error"]["problems"]
    assert {"row": 1, "field": "amount", "problem": "must be a number, got a string"} in problems
    assert {"row": 2, "field": "term_months", "problem": "is required"} in problems
    headers = {"Authorization": f"Bearer {keys['predict']}", "content-type": "application/json"}
    for body in (b"not json", b"[]", b'{"rows": []}', b'{"rows": [1]}', b'{"rows": [], "extra": 1}'):
        answer = httpx.post(f"{server.url}/v1/predict", content=body, headers=headers, timeout=10)
        assert answer.status_code == 422, (body, answer.text)
    too_many = predict(server, keys["predict"], good * 400)
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["error"]["message"]
    bad_deadline = predict(server, keys["predict"], good, **{"X-Assay-Deadline-Ms": "-5"})
    assert bad_deadline.status_code == 422


def test_metrics_expose_latency_histograms_per_version_and_route(server: Server, keys: dict[str, str]) -> None:
    predict(server, keys["predict"], sample_rows(server.project_dir, 2))
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"}, timeout=10).text
    assert 'assay_request_duration_seconds_bucket{le="0.05",model_version="credit-default:1",route="production"}' in text
    assert 'assay_requests_total{endpoint="predict",status="200"}' in text
    assert 'assay_errors_total{kind="validation"}' in text
    assert "assay_batch_rows_bucket" in text


def test_the_openapi_document_carries_the_model_signature(server: Server, keys: dict[str, str]) -> None:
    document = httpx.get(f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {keys['viewer']}"}, timeout=10).json()
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    row = body["properties"]["rows"]["items"]
    assert row["properties"]["amount"] == {"type": "number"}
    assert "amount" in row["required"] and "income" not in row["required"]  # income is nullable


def test_schemathesis_finds_no_undeclared_server_error(server: Server, keys: dict[str, str]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json",
                                           headers={"Authorization": f"Bearer {keys['admin']}"})
    failures: list[str] = []
    for operation in schema.get_all_operations():
        op = operation.ok()
        cases = st.one_of(op.as_strategy(schemathesis.GenerationMode.POSITIVE),
                          op.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=cases)
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=30)
            # 503 is part of the contract (declared in the document): a deadline too short to meet with
            # no fallback declared, or a full queue. Any other 5xx is a server error.
            declared = response.status_code == 503 and response.json()["error"]["code"] in {
                "model-unavailable", "serving-overloaded"}
            if response.status_code >= 500 and not declared:
                failures.append(f"{case.method} {case.path} -> {response.status_code}: {response.text[:200]}")

        check()
    assert not failures, failures[:5]


# --- fallbacks, shedding, rollout ---------------------------------------------------------


def test_a_failing_or_slow_model_is_answered_by_the_previous_production_model(
    flaky_server: Server, flaky_project: Path, keys: dict[str, str]
) -> None:
    mode = flaky_project / "flaky_mode"
    with Project.open(flaky_project) as project:
        deploy(project, "credit-default:2", mode="promote")
    wait_until(lambda: _converged(flaky_server, keys["viewer"], production=2, fallback=1))
    rows = sample_rows(flaky_project, 2)
    try:
        assert predict(flaky_server, keys["predict"], rows).json()["version"] == 2
        mode.write_text("raise")
        answer = predict(flaky_server, keys["predict"], rows).json()
        assert (answer["version"], answer["fallback"], answer["fallback_reason"], answer["answered_by"]) == (
            1, True, "model-error", "previous-model")
        mode.write_text("sleep:0.6")
        slow = predict(flaky_server, keys["predict"], rows, **{"X-Assay-Deadline-Ms": "100"})
        assert slow.status_code == 200
        assert (slow.json()["fallback_reason"], slow.json()["version"]) == ("timeout", 1)
        text = httpx.get(f"{flaky_server.url}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"}).text
        assert 'assay_fallbacks_total{model_version="credit-default:2",reason="model-error"} 1.0' in text
        assert 'assay_fallbacks_total{model_version="credit-default:2",reason="timeout"} 1.0' in text
    finally:
        mode.write_text("ok")
        with Project.open(flaky_project) as project:
            rollback(project)
        wait_until(lambda: _converged(flaky_server, keys["viewer"], production=1))


def test_rollback_needs_no_restart_and_no_request_meets_a_half_loaded_model(
    flaky_server: Server, flaky_project: Path, keys: dict[str, str]
) -> None:
    rows = sample_rows(flaky_project, 1)
    pid = flaky_server.process.pid
    with Project.open(flaky_project) as project:
        deploy(project, "credit-default:2", mode="promote")
    versions: set[int] = set()

    def on_two() -> bool:
        response = predict(flaky_server, keys["predict"], rows)
        assert response.status_code == 200 and not response.json()["fallback"], response.text
        versions.add(response.json()["version"])
        return response.json()["version"] == 2

    wait_until(on_two)
    with Project.open(flaky_project) as project:
        change = rollback(project)
    assert change.deployment.production == 1
    wait_until(lambda: predict(flaky_server, keys["predict"], rows).json()["version"] == 1)
    assert versions <= {1, 2} and flaky_server.process.pid == pid and flaky_server.process.poll() is None


def test_shadow_traffic_never_changes_responses_and_is_logged(
    flaky_server: Server, flaky_project: Path, keys: dict[str, str]
) -> None:
    rows = sample_rows(flaky_project, 5, offset=100)
    before = predict(flaky_server, keys["predict"], rows).json()
    with Project.open(flaky_project) as project:
        deploy(project, "credit-default:2", mode="shadow")
    wait_until(lambda: _converged(flaky_server, keys["viewer"], production=1, shadow=2))
    log_root = flaky_project / ".assay" / "predictions" / "credit-default"

    def both_routes_logged(request_id: str) -> bool:
        frame = read_prediction_log(log_root)
        mine = frame.filter(frame["request_id"] == request_id)
        return set(zip(mine["route"], mine["model_version"], strict=True)) == {("production", 1), ("shadow", 2)}

    def shadow_errors() -> float:
        text = httpx.get(f"{flaky_server.url}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"}).text
        lines = [line for line in text.splitlines() if line.startswith('assay_errors_total{kind="shadow"}')]
        return float(lines[0].split()[-1]) if lines else 0.0

    mode = flaky_project / "flaky_mode"
    try:
        during = predict(flaky_server, keys["predict"], rows).json()
        wait_until(lambda: both_routes_logged(during["request_id"]))
        errors_before = shadow_errors()
        mode.write_text("raise")  # a failing shadow must not matter either
        failing = predict(flaky_server, keys["predict"], rows).json()
        wait_until(lambda: shadow_errors() == errors_before + 1)
    finally:
        mode.write_text("ok")
        with Project.open(flaky_project) as project:
            rollback(project, target="shadow")
    for answer in (during, failing):
        assert answer["predictions"] == before["predictions"] and answer["version"] == 1 and not answer["fallback"]


def test_a_canary_that_breaches_a_guard_is_rolled_back_and_the_audit_says_why(
    flaky_server: Server, flaky_project: Path, keys: dict[str, str]
) -> None:
    mode = flaky_project / "flaky_mode"
    with Project.open(flaky_project) as project:
        deploy(project, "credit-default:2", mode="canary", percent=100)
    wait_until(lambda: _converged(flaky_server, keys["viewer"], production=1, canary=2))
    mode.write_text("raise")
    try:
        def rolled_back() -> bool:
            for offset in range(0, 40, 2):
                response = predict(flaky_server, keys["predict"], sample_rows(flaky_project, 2, offset=offset))
                assert response.status_code == 200, response.text
                answer = response.json()
                if answer["route"] == "canary":  # the failing canary is answered by production
                    assert (answer["version"], answer["fallback_reason"]) == (1, "model-error"), answer
            with Project.open(flaky_project) as project:
                return project.metadata.get_deployment("credit-default").canary is None

        wait_until(rolled_back, timeout_s=30)
    finally:
        mode.write_text("ok")
    with Project.open(flaky_project) as project:
        entry = [e for e in project.metadata.list_audit(subject="credit-default") if e.action == "deployment.canary-rollback"][-1]
    assert entry.actor == "assay-serve (canary guard)" and entry.details["rolled_back"] == 2
    assert entry.details["guard"] == "fallback_rate" and "breached" in entry.details["reason"]
    wait_until(lambda: _converged(flaky_server, keys["viewer"], production=1) and
               "canary" not in {e["route"] for e in _served(flaky_server, keys["viewer"])["served"]})
    assert predict(flaky_server, keys["predict"], sample_rows(flaky_project, 1)).json()["route"] == "production"


def test_a_flood_beyond_the_queue_is_shed_with_503_and_the_server_recovers(
    flaky_server: Server, flaky_project: Path, keys: dict[str, str]
) -> None:
    mode = flaky_project / "flaky_mode"
    rows = sample_rows(flaky_project, 100)
    mode.write_text("sleep:0.05")

    async def flood() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            calls = [client.post(f"{flaky_server.url}/v1/predict", json={"rows": rows},
                                 headers={"Authorization": f"Bearer {keys['predict']}", "X-Assay-Deadline-Ms": "5000"})
                     for _ in range(60)]
            return list(await asyncio.gather(*calls))

    try:
        responses = asyncio.run(flood())
    finally:
        mode.write_text("ok")
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503} and statuses.count(503) > 0 and statuses.count(200) > 0, statuses
    shed = next(r for r in responses if r.status_code == 503)
    assert int(shed.headers["retry-after"]) >= 1 and shed.json()["error"]["code"] == "serving-overloaded"
    assert predict(flaky_server, keys["predict"], rows[:1]).status_code == 200
    assert flaky_server.process.poll() is None


# --- privacy and shutdown ----------------------------------------------------------


def test_pii_never_appears_in_clear_and_shutdown_loses_no_accepted_prediction(
    base_project: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "pii"
    shutil.copytree(base_project, directory, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    set_serving(directory, pii_key="env:ASSAY_TEST_PII_KEY", prediction_log={"pii": "tokenise", "flush_interval_s": 30})
    rows = sample_rows(directory, 20)
    markers = [f"pii-marker-{i}@example.test" for i in range(20)]
    for row, marker in zip(rows, markers, strict=True):
        row["email"], row["name"] = marker, f"Name Marker {marker}"
        row["undeclared_note"] = f"note {marker}"  # neither an input nor declared: never logged
    pii_key = "pii-key-" + "k" * 32
    server = Server(directory, env={"ASSAY_TEST_PII_KEY": pii_key}, args=("--access-log", "--log-level", "debug"))
    try:
        ids = [predict(server, keys["predict"], rows[i : i + 2]).json()["request_id"] for i in range(0, 20, 2)]
        bad = predict(server, keys["predict"], [{**rows[0], "amount": "x"}])
        assert bad.status_code == 422
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: the exit status says SIGTERM.
        assert server.stop() in (0, -15) and '"serve.stopped"' in server.log()
    frame = read_prediction_log(directory / ".assay" / "predictions" / "credit-default")
    assert sorted(set(frame["request_id"])) == sorted(ids) and len(frame) == 20  # flushed at shutdown
    assert "input.name" not in frame.columns or frame["input.name"].str.contains("Marker").sum() == 0
    from assay.security import Secret, Tokeniser

    tokens = Tokeniser(Secret(pii_key)).tokenise_column(markers[:2])
    assert frame.filter(frame["request_id"] == ids[0])["input.email"].to_list() == tokens
    assert ids[0] in server.log()  # the access log names each request
    for path in [*directory.rglob("*.parquet"), server.log_path]:
        data = path.read_bytes()
        assert not any(marker.encode() in data for marker in markers), path
        assert pii_key.encode() not in data, path


# --- the CLI -----------------------------------------------------------------------


def test_the_cli_creates_keys_once_and_rolls_out_step_by_step(
    flaky_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.cli_runner import cli, cli_json

    directory = tmp_path / "cli"
    shutil.copytree(flaky_project, directory, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    project = ["-C", str(directory)]
    created = cli_json(capsys, *project, "keys", "create", "--role", "deployer", "--name", "ci")
    assert isinstance(created, dict) and created["key"].startswith("ak_") and created["role"] == "deployer"
    listed = cli_json(capsys, *project, "keys", "list")
    assert isinstance(listed, list) and created["id"] in {k["id"] for k in listed}
    assert all("key" not in k and "hash" not in k for k in listed)
    assert created["key"] not in (directory / ".assay" / "assay.db").read_bytes().decode("latin-1")
    code, _, err = cli(capsys, *project, "keys", "create", "--role", "owner", "--name", "x")
    assert code != 0 and "owner" in err

    state = cli_json(capsys, *project, "deployment")
    assert isinstance(state, dict) and state["production"] == 1
    shadow = cli_json(capsys, *project, "deploy", "credit-default:2", "--shadow")
    assert isinstance(shadow, dict) and shadow["shadow"] == 2
    canary = cli_json(capsys, *project, "deploy", "credit-default:2", "--canary", "10")
    assert isinstance(canary, dict) and (canary["canary"], canary["canary_percent"], canary["shadow"]) == (2, 10.0, None)
    code, _, err = cli(capsys, *project, "deploy", "credit-default:1", "--canary", "10")
    assert code != 0 and "already in production" in err
    code, _, err = cli(capsys, *project, "deploy", "credit-default:2", "--canary", "150")
    assert code != 0 and "(0, 100]" in err
    promoted = cli_json(capsys, *project, "deploy", "credit-default:2", "--promote", "--reason", "canary held")
    assert isinstance(promoted, dict) and (promoted["production"], promoted["canary"]) == (2, None)
    assert promoted["fallback"] == 1
    back = cli_json(capsys, *project, "rollback")
    assert isinstance(back, dict) and (back["production"], back["fallback"]) == (1, None)
    code, _, err = cli(capsys, *project, "rollback")
    assert code != 0 and "nothing to roll back to" in err  # never back to the version just rolled back from
    # Moving the alias by hand keeps the same bookkeeping as a promotion.
    assert cli(capsys, *project, "models", "alias", "credit-default:2", "production")[0] == 0
    by_hand = cli_json(capsys, *project, "deployment")
    assert isinstance(by_hand, dict) and (by_hand["production"], by_hand["fallback"]) == (2, 1)
    revoked = cli_json(capsys, *project, "keys", "revoke", created["id"])
    assert isinstance(revoked, dict) and revoked["revoked_at"] is not None
    with Project.open(directory) as opened:
        actions = [e.action for e in opened.metadata.list_audit(limit=100_000)]
    assert {"deployment.shadow", "deployment.canary", "deployment.promote", "deployment.rollback",
            "key.created", "key.revoked"} <= set(actions)


def test_identical_rows_are_answered_from_the_shared_redis_cache(
    base_project: Path, keys: dict[str, str], tmp_path: Path, redis_url: str
) -> None:
    directory = tmp_path / "cached"
    shutil.copytree(base_project, directory, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    set_serving(directory, cache={"enabled": True, "redis": "env:ASSAY_TEST_CACHE_URL", "ttl_s": 30})
    rows = sample_rows(directory, 3, offset=1234)
    with serving(directory, env={"ASSAY_TEST_CACHE_URL": redis_url}) as first:
        answer = predict(first, keys["predict"], rows).json()
    with serving(directory, env={"ASSAY_TEST_CACHE_URL": redis_url}) as second:  # another replica
        again = predict(second, keys["predict"], rows).json()
        metrics = httpx.get(f"{second.url}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"}).text
    assert again["predictions"] == answer["predictions"]
    assert "assay_cache_hits_total 3.0" in metrics


def test_several_workers_share_one_port_and_report_merged_metrics(server: Server, keys: dict[str, str]) -> None:
    rows = sample_rows(server.project_dir, 1)
    with serving(server.project_dir, workers=2) as pool:
        answers = [predict(pool, keys["predict"], rows) for _ in range(30)]
        text = httpx.get(f"{pool.url}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"}).text
        log = pool.log()
    assert all(a.status_code == 200 for a in answers)
    # Request ids carry a per-process prefix: more than one worker answered.
    assert len({a.json()["request_id"].split("-")[0] for a in answers}) == 2
    # Whichever worker answers /metrics reports every worker's requests.
    assert 'assay_requests_total{endpoint="predict",status="200"} 30.0' in text
    assert log.count('"serve.started"') == 2 and all(line.startswith("{") for line in log.splitlines() if line)


def test_a_tampered_model_artifact_never_takes_traffic(base_project: Path, keys: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "tampered"
    shutil.copytree(base_project, directory, ignore=shutil.ignore_patterns("serve-*.log", "predictions"))
    with Project.open(directory) as project:
        sha = project.resolve_model("credit-default@production").artifact_sha256
    artifact = next((directory / ".assay" / "artifacts").rglob(sha))
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"x")
    with serving(directory, ready="/healthz") as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        answer = predict(server, keys["predict"], sample_rows(directory, 1))
    assert ready.status_code == 503 and "credit-default:1" in ready.json()["reason"]
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "model-unavailable"
