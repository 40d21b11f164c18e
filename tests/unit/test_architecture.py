"""The package's shape: layers import only downwards, and the public API is pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import assay

SRC = Path(assay.__file__).resolve().parent

# Top to bottom. A package may import its own modules, and any package in a lower layer.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__main__"}),
    frozenset({"cli"}),
    # serving/app.py is the service's composition root (STYLE.md): it wires the project's stores;
    # monitoring reads what serving and batch scoring leave behind (the prediction log, scoring
    # outputs) against the project's records.
    frozenset({"monitoring"}),
    # batch scoring, like serving, runs registered models of a project.
    frozenset({"serving", "batch"}),
    frozenset({"project"}),
    frozenset({"training", "evaluation", "registry"}),
    frozenset({"data", "leakage", "features", "security"}),
    frozenset({"spec"}),
    frozenset({"errors", "types", "clock"}),
)


def _layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"assay.{package} is in no layer: add it to LAYERS in this test")


def _assay_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "assay" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_package_imports_only_its_own_or_lower_layers() -> None:
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if len(relative.parts) == 1 and relative.stem == "__init__":
            continue  # the top-level package re-exports lazily
        package = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        own = _layer_of(package)
        for imported in _assay_imports(path):
            if imported == package:
                continue
            other = _layer_of(imported)
            if other <= own:
                violations.append(f"{relative}: imports assay.{imported} (layer {other}) from layer {own}")
    assert violations == []


def test_public_api_is_exactly_the_curated_names() -> None:
    assert sorted(assay.__all__) == sorted(
        [
            "AssayError", "Clock", "DatasetVersion", "FixedClock", "IngestResult", "Lineage", "ModelRef",
            "ModelStatus", "ModelVersion", "Project", "Reproduction", "Run", "RunStatus", "Settings", "Spec",
            "SystemClock", "TrainResult", "__version__", "create_demo_project", "ingest", "lineage",
            "load_spec", "move_alias", "parse_spec", "remove_alias", "render_init_spec", "reproduce",
            "run_demo", "set_status", "train_project",
            "validate", "verify_artifacts", "write_init_spec",
        ]
    )
    for name in assay.__all__:
        assert getattr(assay, name) is not None, name


def test_cli_demo_default_matches_the_library() -> None:
    from assay.cli import lifecycle
    from assay.project import demo

    assert lifecycle.DEMO_ROWS == demo.DEMO_ROWS


def test_cli_start_up_does_not_import_the_training_stack() -> None:
    import subprocess
    import sys

    code = "import sys, assay.cli.main; print(sorted(m for m in ('sklearn', 'skops', 'pandas') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"
