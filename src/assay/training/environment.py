"""Capture the environment a run used, and tell what changed since."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "assay",
    "numpy",
    "scipy",
    "pandas",
    "polars",
    "pyarrow",
    "scikit-learn",
    "skops",
    "lightgbm",
    "xgboost",
    "threadpoolctl",
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(project_dir: Path) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def capture_environment(project_dir: Path, *, extra_packages: Iterable[str] = ()) -> dict[str, Any]:
    """Python, platform, package versions and the git state of the project folder."""
    packages = {name: _version(name) for name in (*TRACKED_PACKAGES, *extra_packages)}
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "packages": {k: v for k, v in sorted(packages.items()) if v is not None},
        "git": _git(project_dir),
    }


def diff_environments(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences that can change a model's bytes or predictions."""
    changes: list[str] = []
    for key in ("python", "implementation", "machine", "byteorder"):
        if recorded.get(key) != current.get(key):
            changes.append(f"{key}: {recorded.get(key)} -> {current.get(key)}")
    old, new = recorded.get("packages", {}), current.get("packages", {})
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append(f"package {name}: {old.get(name, 'absent')} -> {new.get(name, 'absent')}")
    return changes


def diff_code(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    old, new = recorded.get("git", {}), current.get("git", {})
    changes: list[str] = []
    if old.get("commit") != new.get("commit"):
        changes.append(f"git commit: {old.get('commit') or 'none'} -> {new.get('commit') or 'none'}")
    if new.get("dirty"):
        changes.append("the project folder has uncommitted changes now")
    if old.get("dirty"):
        changes.append("the run was recorded from a folder with uncommitted changes")
    return changes




def factory_source(factory: str | None, project_dir: Path) -> Path | None:
    """The source file of a `module:function` model factory, if it is a plain Python file."""
    if not factory:
        return None
    module_name = factory.split(":", 1)[0]
    candidate = project_dir.joinpath(*module_name.split(".")).with_suffix(".py")
    if candidate.is_file():
        return candidate
    package_init = project_dir.joinpath(*module_name.split("."), "__init__.py")
    if package_init.is_file():
        return package_init
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    origin = found.origin if found is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


__all__ = ["TRACKED_PACKAGES", "capture_environment", "diff_code", "diff_environments", "factory_source"]
