"""`assay demo`: a project made from examples/credit, taken from raw data to a registered model."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType

from assay.errors import AssayError
from assay.project.approvals import ApprovalRequiredError, SelfApprovalError, approve
from assay.project.deployment import DEPLOYABLE, deploy
from assay.project.pipeline import TrainResult, train_project
from assay.project.reporter import NullReporter, Reporter
from assay.project.settings import Settings
from assay.project.workspace import Project
from assay.security.identity import identity_for
from assay.spec.loader import SPEC_FILENAME

DEMO_ROWS = 60_000
DEMO_SEED = 7
DEMO_TRAINER, DEMO_REVIEWER = "demo-trainer", "demo-reviewer"  # the two identities of the approval walk-through


def example_dir(name: str = "credit") -> Path:
    """The example's folder: shipped inside the wheel, or in the source checkout for editable installs."""
    packaged = resources.files("assay") / "_examples" / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "examples" / name
    if checkout.is_dir():
        return checkout
    raise AssayError(f"the {name!r} example is not installed", hint="reinstall assay: `pip install assay`")


def _load_generator(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("assay_example_credit_generate", folder / "generate.py")
    if spec is None or spec.loader is None:
        raise AssayError(f"cannot load the example generator in {folder}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True, slots=True)
class DemoResult:
    project_dir: Path
    data_path: Path
    result: TrainResult
    production: str | None = None  # the model the demo promoted, ready for `assay serve`
    approval_steps: tuple[str, ...] = ()  # what the approval walk-through did, in order


def create_demo_project(directory: Path | str, *, rows: int = DEMO_ROWS, seed: int = DEMO_SEED) -> Path:
    """Copy the example spec into `directory` and generate its data (deterministic for a seed)."""
    directory = Path(directory)
    source = example_dir("credit")
    directory.mkdir(parents=True, exist_ok=True)
    target_spec = directory / SPEC_FILENAME
    if target_spec.exists() and target_spec.read_bytes() != (source / SPEC_FILENAME).read_bytes():
        raise AssayError(
            f"{target_spec} exists and is not the demo's spec",
            hint="choose an empty folder with --dir, or remove that file",
        )
    shutil.copyfile(source / SPEC_FILENAME, target_spec)
    data_path = directory / "data" / "applications.csv"
    data_path.parent.mkdir(parents=True, exist_ok=True)
    _load_generator(source).write_csv(data_path, n_rows=rows, seed=seed)
    return data_path


def run_demo(
    directory: Path | str,
    *,
    settings: Settings | None = None,
    reporter: Reporter | None = None,
    rows: int = DEMO_ROWS,
    seed: int = DEMO_SEED,
) -> DemoResult:
    """Create the demo project in `directory`, run ingest → validate → split → train → evaluate →
    register, and, when the model passed its gates, walk the approval path (trained by
    `demo-trainer`, approved by `demo-reviewer`: four-eyes) and promote it to production (ready
    for `assay serve`)."""
    reporter = reporter or NullReporter()
    directory = Path(directory)
    with reporter.stage("generate data"):
        data_path = create_demo_project(directory, rows=rows, seed=seed)
    settings = (settings or Settings()).model_copy(update={"actor": DEMO_TRAINER, "api_key": None})
    with Project.open(directory, settings=settings) as project:
        result = train_project(project, reporter=reporter, description="assay demo")
        production, steps = None, ()
        if result.model.status in DEPLOYABLE and project.metadata.get_deployment(result.model.name).production is None:
            with reporter.stage("approve (four-eyes)"):
                steps = _walk_approvals(project, result.model.ref)
            with reporter.stage("promote to production"):
                deploy(project, result.model.ref, mode="promote",
                       reason="assay demo: the first model that passed its gates, approved by a reviewer")
            production = result.model.ref
    return DemoResult(directory.resolve(), data_path, result, production, steps)


def _walk_approvals(project: Project, ref: str) -> tuple[str, ...]:
    """The approval path a newcomer should see: promotion refused, self-approval refused, a second
    identity reviews and approves."""
    steps = []
    try:
        deploy(project, ref, mode="promote")
    except ApprovalRequiredError as refused:
        steps.append(f"{DEMO_TRAINER}: promote {ref} -> refused: {refused.message}")
    try:
        approve(project, ref, comment="my own model")
    except SelfApprovalError as refused:
        steps.append(f"{DEMO_TRAINER}: approve {ref} -> refused: {refused.message}")
    reviewer = project.acting_as(identity_for(DEMO_REVIEWER, project.load_spec()[0].access, source="demo"))
    state = approve(reviewer, ref, comment="assay demo: card, gates and lineage reviewed")
    steps.append(f"{DEMO_REVIEWER}: approve {ref} -> {len(state.approved_by)} of {state.policy.required} "
                 f"approvals; status {state.model.status.value}")
    return tuple(steps)


__all__ = ["DEMO_REVIEWER", "DEMO_ROWS", "DEMO_SEED", "DEMO_TRAINER", "DemoResult", "create_demo_project", "example_dir", "run_demo"]
