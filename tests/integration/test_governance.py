"""Governance through the Python API: the approval policy on a real project, and every role against
every permission-checked operation (the HTTP routes have their own matrix in test_http_governance).

A demo project is made once (trained by demo-trainer, approved by demo-reviewer, credit-default:1 in
production) plus a second, unapproved version; each test works on a private copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from assay.batch.job import score
from assay.batch.local import LocalEngine
from assay.monitoring.check import check_slos
from assay.monitoring.erasure import erase_entity
from assay.monitoring.ingest import ingest_labels
from assay.monitoring.retention import GcPlan, apply_gc
from assay.project.access import create_key, list_keys, revoke_key
from assay.project.approvals import (
    ApprovalError,
    ApprovalRequiredError,
    SelfApprovalError,
    approval_state,
    approve,
    reject,
)
from assay.project.demo import run_demo
from assay.project.deployment import deploy, rollback
from assay.project.ingestion import ingest
from assay.project.models import move_alias, remove_alias, set_status
from assay.project.pipeline import train_project
from assay.project.reproduction_record import record_reproduction
from assay.project.settings import Settings
from assay.project.workspace import Project
from assay.registry.records import ModelStatus
from assay.security.identity import PermissionDeniedError

pytestmark = pytest.mark.slow
V1, V2 = "credit-default:1", "credit-default:2"
ROLES = ("viewer", "trainer", "approver", "deployer", "admin", "predict")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = run_demo(tmp_path_factory.mktemp("governance") / "demo", rows=2000).project_dir
    with Project.open(folder, settings=Settings(actor="alice")) as project:
        assert train_project(project).model.ref == V2  # trained by alice, not approved
    return folder


def copy_of(base: Path, tmp_path: Path, *, spec: dict[str, Any] | None = None) -> Path:
    folder = Path(shutil.copytree(base, tmp_path / "project"))
    if spec:
        path = folder / "assay.yaml"
        document = yaml.safe_load(path.read_text())
        document.update(spec)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


def acting(folder: Path, actor: str) -> Project:
    return Project.open(folder, settings=Settings(actor=actor))


# --- the approval policy ------------------------------------------------------------------------


def test_the_policy_blocks_a_promotion_then_allows_it_once_a_second_identity_approves(base: Path, tmp_path: Path) -> None:
    folder = copy_of(base, tmp_path)
    with acting(folder, "alice") as alice:
        with pytest.raises(ApprovalRequiredError) as refused:
            deploy(alice, V2, mode="promote")
        assert "0 of 1 approvals" in str(refused.value) and "other than alice, who trained it" in str(refused.value)
        assert "assay models approve credit-default:2" in refused.value.hint
        with pytest.raises(SelfApprovalError, match="alice trained credit-default:2 and may not approve it"):
            approve(alice, V2, comment="looks good to me")
        assert alice.metadata.get_deployment("credit-default").production == 1  # nothing moved
        assert alice.metadata.list_approvals("credit-default", 2) == []
    with acting(folder, "bob") as bob:
        state = approve(bob, V2, comment="card and gates read; diff is the max_iter change")
        assert state.met and state.approved_by == ("bob",) and state.model.status == ModelStatus.APPROVED
    with acting(folder, "alice") as alice:
        deploy(alice, V2, mode="promote")
        assert alice.metadata.get_deployment("credit-default").production == 2
        entries = alice.metadata.list_audit(subject=V2)
    assert [(e.action, e.actor) for e in entries if e.action in ("model.approved", "model.status")] == [
        ("model.approved", "bob"), ("model.status", "bob")]
    assert entries[[e.action for e in entries].index("model.approved")].details["comment"].startswith("card and gates")


def test_two_approvals_from_distinct_identities_and_a_standing_reject(base: Path, tmp_path: Path) -> None:
    folder = copy_of(base, tmp_path, spec={"approvals": {"required": 2}})
    with acting(folder, "bob") as bob:
        approve(bob, V2, comment="ok")
        again = approve(bob, V2, comment="still ok")  # the same identity twice is one approval
        assert again.approved_by == ("bob",) and not again.met
    with acting(folder, "carol") as carol:
        state = reject(carol, V2, comment="fairness gap on age")
        assert state.rejected_by == ("carol",) and not state.met
    with acting(folder, "dave") as dave:
        state = approve(dave, V2, comment="ok")
        assert len(state.approved_by) == 2 and not state.met  # carol's reject stands
        with pytest.raises(ApprovalRequiredError, match="rejected by carol"):
            deploy(dave, V2, mode="promote")
    with acting(folder, "carol") as carol:
        state = approve(carol, V2, comment="gap explained by the age bands; fine")
        assert state.met and set(state.approved_by) == {"bob", "dave", "carol"}
        reject(carol, V2, comment="changed my mind")
        assert carol.resolve_model(V2).status == ModelStatus.CANDIDATE  # approved -> candidate again


def test_protected_aliases_canary_and_what_never_needs_an_approval(base: Path, tmp_path: Path) -> None:
    folder = copy_of(base, tmp_path, spec={"approvals": {"protected_aliases": ["production", "eu"], "canary": True}})
    with acting(folder, "alice") as alice:
        with pytest.raises(ApprovalRequiredError, match="protected alias eu"):
            move_alias(alice, V2, "eu")
        with pytest.raises(ApprovalRequiredError, match="take live traffic as a canary"):
            deploy(alice, V2, mode="canary", percent=10)
        move_alias(alice, V2, "staging")  # not protected
        deploy(alice, V2, mode="shadow")  # a shadow answers no one
        with pytest.raises(Exception, match="becomes approved through reviews"):
            set_status(alice, V2, "approved")
    with acting(folder, "bob") as bob:
        approve(bob, V2, comment="ok")
    with acting(folder, "alice") as alice:
        move_alias(alice, V2, "eu")
        deploy(alice, V2, mode="canary", percent=10)
        deploy(alice, V2, mode="promote")
        rollback(alice)  # back to version 1: approved when it was promoted, no new approval needed
        assert alice.metadata.get_deployment("credit-default").production == 1


def test_approvals_off_and_what_an_approval_cannot_override(base: Path, tmp_path: Path) -> None:
    folder = copy_of(base, tmp_path, spec={"approvals": {"required": 0}})
    with acting(folder, "alice") as alice:
        deploy(alice, V2, mode="promote")  # a one-person project may turn approvals off
        alice.metadata.set_model_status("credit-default", 1, ModelStatus.REJECTED, actor="test", reason="gates",
                                        at=datetime.now(UTC))
    with acting(folder, "bob") as bob:
        with pytest.raises(ApprovalError, match="failed its evaluation gates"):
            approve(bob, V1, comment="ok")
        with pytest.raises(ApprovalError, match="needs a comment"):
            approve(bob, V2, comment="  ")


def test_under_declared_users_only_the_approver_role_approves(base: Path, tmp_path: Path) -> None:
    team = {"access": {"users": {"alice": ["trainer"], "bob": ["approver"], "erin": ["deployer"]},
                       "default_roles": ["viewer"]}}
    folder = copy_of(base, tmp_path, spec=team)
    with acting(folder, "erin") as erin:
        with pytest.raises(PermissionDeniedError, match="erin \\(roles: deployer\\) may not models:approve"):
            approve(erin, V2, comment="ok")
    with acting(folder, "mallory") as mallory:  # not listed: default_roles
        with pytest.raises(PermissionDeniedError, match="roles: viewer"):
            deploy(mallory, V2, mode="shadow")
    with acting(folder, "bob") as bob:
        approve(bob, V2, comment="ok")
        with pytest.raises(PermissionDeniedError, match="may not deployments:change"):
            deploy(bob, V2, mode="promote")  # whoever approves does not deploy
    with acting(folder, "erin") as erin:
        deploy(erin, V2, mode="promote")
        assert approval_state(erin, V2).met


# --- every role against every permission-checked operation --------------------------------------

Operation = Callable[[Project], object]


def _spec(project: Project) -> Any:
    return project.load_spec()[0]


OPERATIONS: dict[str, tuple[Operation, set[str]]] = {
    # name: (what it does, the roles that may do it) -- written out, not derived from PERMISSIONS
    "ingest": (lambda p: ingest(p), {"trainer", "admin"}),
    "train": (lambda p: train_project(p, dataset_id="ds-none"), {"trainer", "admin"}),
    "labels ingest": (lambda p: ingest_labels(p, p.root / "missing.csv", key="request_id"), {"trainer", "admin"}),
    "approve": (lambda p: approve(p, V2, comment="ok"), {"approver", "admin"}),
    "reject": (lambda p: reject(p, V2, comment="no"), {"approver", "admin"}),
    "alias": (lambda p: move_alias(p, V2, "staging"), {"trainer", "deployer", "admin"}),
    "status": (lambda p: set_status(p, V2, "archived"), {"trainer", "deployer", "admin"}),
    "override gates": (lambda p: set_status(p, V1, "candidate"), {"admin"}),  # V1 is made rejected first
    "shadow": (lambda p: deploy(p, V2, mode="shadow"), {"deployer", "admin"}),
    "canary": (lambda p: deploy(p, V2, mode="canary", percent=5), {"deployer", "admin"}),
    "promote": (lambda p: deploy(p, V2, mode="promote"), {"deployer", "admin"}),
    "rollback": (lambda p: rollback(p), {"deployer", "admin"}),
    "unalias production": (lambda p: remove_alias(p, "credit-default", "production"), {"deployer", "admin"}),
    "keys create": (lambda p: create_key(p, role="predict", name="svc"), {"admin"}),
    "keys list": (lambda p: list_keys(p), {"admin"}),
    "keys revoke": (lambda p: revoke_key(p, "0123456789abcdef"), {"admin"}),
    "score": (lambda p: score(p, V1, input_url=str(p.root / "missing.parquet"), output_url=str(p.root / "out"),
                              engine=LocalEngine(workers=1)), {"trainer", "deployer", "admin", "predict"}),
    "monitor check": (lambda p: check_slos(p, _spec(p), [], now=datetime.now(UTC)), {"trainer", "deployer", "admin"}),
    "gc --apply": (lambda p: apply_gc(p, GcPlan(now=datetime.now(UTC), items=(), declared=())), {"admin"}),
    "erase": (lambda p: erase_entity(p, _spec(p), "C-000001"), {"admin"}),
    "record a reproduction": (
        lambda p: record_reproduction(p, SimpleNamespace(ok=True, model=V1, run_id="run-x", predictions_identical=True,
                                                         artifact_identical=True, rows_compared=1, differences=())),
        {"viewer", "trainer", "approver", "deployer", "admin"}),
}


@pytest.fixture(scope="module")
def team(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with one declared user per role (user NAME-user holds role NAME)."""
    folder = copy_of(base, tmp_path_factory.mktemp("team"),
                     spec={"access": {"users": {f"{role}-user": [role] for role in ROLES}}})
    with acting(folder, "admin-user") as admin:
        admin.metadata.set_model_status("credit-default", 1, ModelStatus.REJECTED, actor="test", reason="setup",
                                        at=datetime.now(UTC))
    return folder


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_role_against_every_operation(team: Path, tmp_path: Path, operation: str, role: str) -> None:
    run, allowed = OPERATIONS[operation]
    folder = Path(shutil.copytree(team, tmp_path / "p"))
    with acting(folder, f"{role}-user") as project:
        before = len(project.metadata.list_audit(limit=100_000))
        try:
            run(project)
        except PermissionDeniedError as denied:
            assert role not in allowed, f"{role} should be allowed to {operation}: {denied}"
            assert f"{role}-user (roles: {role}) may not" in str(denied)
            assert len(project.metadata.list_audit(limit=100_000)) == before  # a refusal changes nothing
            return
        except Exception:  # noqa: BLE001, S110 - past the permission check, the operation's own rules apply
            pass
        assert role in allowed, f"{role} was not refused {operation}"


def test_the_matrix_names_every_role_and_operations_beyond_the_cli_reads() -> None:
    assert all(allowed <= set(ROLES) and allowed for _, allowed in OPERATIONS.values())
    assert len(OPERATIONS) * len(ROLES) == 126


# --- an API key as the CLI's identity (CI) --------------------------------------------------------


def test_an_api_key_acts_as_its_name_and_role_and_a_revoked_one_is_refused(base: Path, tmp_path: Path) -> None:
    from assay.security.keys import InvalidKeyError

    folder = copy_of(base, tmp_path)
    with acting(folder, "ops") as admin:
        deployer_key, record = create_key(admin, role="deployer", name="ci")
        trainer_key, _ = create_key(admin, role="trainer", name="nightly")
    with Project.open(folder, settings=Settings(api_key=deployer_key, actor="whoever")) as ci:
        assert (ci.actor, ci.identity.source) == ("key:ci", "api-key")
        deploy(ci, V2, mode="shadow")
        with pytest.raises(PermissionDeniedError, match="key:ci \\(roles: deployer\\) may not models:approve"):
            approve(ci, V2, comment="ok")
        assert ci.metadata.list_audit(action="deployment.shadow")[-1].actor == "key:ci"
    with Project.open(folder, settings=Settings(api_key=trainer_key)) as nightly:
        with pytest.raises(PermissionDeniedError, match="may not deployments:change"):
            deploy(nightly, V2, mode="canary", percent=5)
    with acting(folder, "ops") as admin:
        revoke_key(admin, record.id)
    with pytest.raises(InvalidKeyError, match="revoked"):
        Project.open(folder, settings=Settings(api_key=deployer_key))
    with pytest.raises(InvalidKeyError, match="not valid"):
        Project.open(folder, settings=Settings(api_key=deployer_key[:-4] + "0000"))


def test_the_cli_reads_the_key_from_the_environment_and_exits_15_on_a_refusal(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_runner import cli

    folder = copy_of(base, tmp_path)
    with acting(folder, "ops") as admin:
        key, _ = create_key(admin, role="approver", name="review-bot")
    monkeypatch.setenv("ASSAY_API_KEY", key)
    code, _, err = cli(capsys, "-C", str(folder), "deploy", V2, "--promote")
    assert code == 15 and "error [permission-denied]: key:review-bot (roles: approver) may not deployments:change" in err
    assert key not in err
    code, _, err = cli(capsys, "-C", str(folder), "models", "approve", V2, "--comment", "bot checks passed")
    assert code == 0, err
    monkeypatch.delenv("ASSAY_API_KEY")
    assert cli(capsys, "-C", str(folder), "deploy", V2, "--promote")[0] == 0  # local mode: the OS user is admin
