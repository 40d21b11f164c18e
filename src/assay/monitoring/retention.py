"""`assay gc`: apply the spec's retention policies. A plan first (what is past its policy, with
rows and bytes), deleting only when asked.

- prediction_logs: whole hour partitions whose hour ended before the cutoff. A partition is
  moved to a hidden name first, then removed, so a reader sees it whole or not at all; the
  partition that straddles the cutoff is kept until all of it is past (at most an hour more).
- labels: whole label files (one per `assay labels ingest`) ingested before the cutoff.
- quarantine: the snapshots of ingest quarantine versions created before the cutoff.
- snapshots: dataset snapshots past every limit that is set (max_age, keep_last per dataset
  name) that no kept run needs: a running run, or a run of a registered model that is not
  archived (unless include_archived_models says archived ones may lose theirs). Lineage and
  `assay reproduce` read a model's snapshot, so the default never breaks a live model.

Dataset *records* are never deleted: a version whose snapshot is gone still says what it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from assay.security.identity import Action
from assay.monitoring.erasure import QUARANTINE_SUFFIX
from assay.monitoring.labelled import prediction_log_dir
from assay.monitoring.labels import LABELS_DIR, LabelStore
from assay.project.settings import STATE_DIR
from assay.project.workspace import Project
from assay.registry.records import ModelStatus, RunStatus
from assay.spec.model import Spec
from assay.spec.monitoring import duration_s

POLICIES = ("prediction_logs", "labels", "quarantine", "snapshots")
GC_ACTION = "gc"
_ALL = 1_000_000_000


@dataclass(frozen=True, slots=True)
class GcItem:
    """One thing past its policy: a partition folder, a label file or a snapshot artifact."""

    policy: str
    target: str  # a path, or the artifact's sha256
    rows: int
    size_bytes: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "target": self.target, "rows": self.rows, "bytes": self.size_bytes,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class GcPlan:
    """What the policies select at `now`; `kept` counts what each declared policy keeps."""

    now: datetime
    items: tuple[GcItem, ...]
    declared: tuple[str, ...]  # the policies the spec sets (the others keep everything)
    protected: tuple[str, ...] = ()  # snapshots past their policy but needed by a kept model or run

    def totals(self) -> dict[str, dict[str, int]]:
        out = {p: {"items": 0, "rows": 0, "bytes": 0} for p in POLICIES}
        for item in self.items:
            out[item.policy]["items"] += 1
            out[item.policy]["rows"] += item.rows
            out[item.policy]["bytes"] += item.size_bytes
        return out

    def to_dict(self, *, applied: bool) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "applied": applied, "declared": list(self.declared),
                "totals": self.totals(), "items": [i.to_dict() for i in self.items],
                "protected_snapshots": list(self.protected)}


def plan_gc(project: Project, spec: Spec, *, now: datetime) -> GcPlan:
    """Everything past its policy at `now`; deletes nothing."""
    policy = spec.retention
    items: list[GcItem] = []
    protected: list[str] = []
    if policy.prediction_logs is not None:
        base = prediction_log_dir(project.root, spec, spec.model.name).parent
        items += _expired_partitions(base, now - timedelta(seconds=duration_s(policy.prediction_logs)))
    if policy.labels is not None:
        items += _expired_labels(project.root / STATE_DIR / LABELS_DIR,
                                 now - timedelta(seconds=duration_s(policy.labels)))
    if policy.quarantine is not None or policy.snapshots.is_set:
        found, protected = _expired_snapshots(project, spec, now)
        items += found
    declared = tuple(p for p in POLICIES
                     if (policy.snapshots.is_set if p == "snapshots" else getattr(policy, p) is not None))
    return GcPlan(now, tuple(items), declared, tuple(protected))


def apply_gc(project: Project, plan: GcPlan) -> None:
    """Delete every planned item, then record what went in the audit log (one entry)."""
    project.require(Action.ERASE, subject="gc")
    for item in plan.items:
        if item.policy == "prediction_logs":
            _remove_folder(Path(item.target))
        elif item.policy == "labels":
            Path(item.target).unlink(missing_ok=True)
        else:
            project.artifacts.delete(item.target)
    if plan.items:
        project.metadata.append_audit(
            actor=project.actor, action=GC_ACTION, subject="retention",
            details={"totals": {k: v for k, v in plan.totals().items() if v["items"]},
                     "snapshots": sorted(i.target for i in plan.items if i.policy in ("snapshots", "quarantine"))},
            at=project.clock.now(),
        )


# --- prediction log ---------------------------------------------------------------


def _expired_partitions(base: Path, cutoff: datetime) -> list[GcItem]:
    items: list[GcItem] = []
    for folder in sorted(base.glob("*/date=*/hour=*")):
        try:
            start = datetime.strptime(f"{folder.parent.name}/{folder.name}", "date=%Y-%m-%d/hour=%H")
            start = start.replace(tzinfo=UTC)
        except ValueError:
            continue  # not a partition the log wrote: leave it alone
        if start + timedelta(hours=1) > cutoff:
            continue
        files = [p for p in folder.glob("*.parquet") if not p.name.startswith(".")]
        rows = sum(pq.read_metadata(p).num_rows for p in files)
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        end = start + timedelta(hours=1)
        items.append(GcItem("prediction_logs", str(folder), rows, size,
                            f"hour ended {end:%Y-%m-%dT%H:%MZ}, before {cutoff:%Y-%m-%dT%H:%MZ}"))
    return items


def _remove_folder(folder: Path) -> None:
    """Rename the partition to a hidden name (readers stop seeing it at once), then remove it,
    and its date folder once empty."""
    if not folder.is_dir():
        return
    hidden = folder.with_name(f".{folder.name}.deleting-{secrets.token_hex(4)}")
    os.replace(folder, hidden)
    shutil.rmtree(hidden)
    date_folder = folder.parent
    if date_folder.is_dir() and not any(date_folder.iterdir()):
        date_folder.rmdir()


# --- labels -------------------------------------------------------------------------


def _expired_labels(base: Path, cutoff: datetime) -> list[GcItem]:
    items: list[GcItem] = []
    for model in sorted(p for p in base.glob("*") if p.is_dir()):
        for path in LabelStore(model).files():
            ingested = LabelStore.metadata(path).get("ingested_at")
            if ingested is None:
                continue  # without its ingest time a file's age is unknown: keep it
            at = datetime.fromisoformat(str(ingested)).astimezone(UTC)
            if at <= cutoff:
                items.append(GcItem("labels", str(path), pq.read_metadata(path).num_rows, path.stat().st_size,
                                    f"ingested {at:%Y-%m-%dT%H:%MZ}, before {cutoff:%Y-%m-%dT%H:%MZ}"))
    return items


# --- snapshots ----------------------------------------------------------------------


def _needed_snapshots(project: Project, *, include_archived: bool) -> set[str]:
    """Artifacts of runs still needed: running ones, and those of registered models that are kept."""
    kept_statuses = {s for s in ModelStatus if not include_archived or s is not ModelStatus.ARCHIVED}
    run_ids = {m.run_id for m in project.metadata.list_models(limit=_ALL) if m.status in kept_statuses}
    needed: set[str] = set()
    for run in project.metadata.list_runs(limit=_ALL):
        if run.id in run_ids or run.status is RunStatus.RUNNING:
            needed.update(run.artifacts.values())
            dataset_id = run.dataset_version_id
            try:
                needed.add(project.metadata.get_dataset(dataset_id).snapshot_sha256)
            except LookupError:
                continue
    return needed


def _expired_snapshots(project: Project, spec: Spec, now: datetime) -> tuple[list[GcItem], list[str]]:
    policy = spec.retention
    snapshots = policy.snapshots
    needed = _needed_snapshots(project, include_archived=snapshots.include_archived_models)
    by_name: dict[str, list[Any]] = defaultdict(list)
    for version in project.metadata.list_datasets(limit=_ALL):  # newest first
        by_name[version.name].append(version)
    expired: dict[str, tuple[str, str]] = {}  # sha -> (policy, reason)
    alive: set[str] = set()  # shas some version keeps (one content may back several versions)
    for name, versions in by_name.items():
        quarantine = name.endswith(QUARANTINE_SUFFIX)
        for index, version in enumerate(versions):
            reason = _snapshot_reason(policy.quarantine if quarantine else None, snapshots if not quarantine else None,
                                      index, version.created_at, now)
            if reason is None:
                alive.add(version.snapshot_sha256)
            else:
                kind = "quarantine" if quarantine else "snapshots"
                expired.setdefault(version.snapshot_sha256, (kind, f"{version.id}: {reason}"))
    items: list[GcItem] = []
    protected: list[str] = []
    for sha, (kind, reason) in sorted(expired.items()):
        if sha in alive:
            continue
        if sha in needed:
            protected.append(sha)
            continue
        size = project.artifacts.size_of(sha)
        if size is None:
            continue  # already gone
        rows = next((v.row_count for vs in by_name.values() for v in vs if v.snapshot_sha256 == sha), 0)
        items.append(GcItem(kind, sha, rows, size, reason))
    return items, protected


def _snapshot_reason(quarantine_age: str | None, snapshots: Any, index: int, created_at: datetime,
                     now: datetime) -> str | None:
    """Why a version's snapshot is past its policy, or None to keep it."""
    if snapshots is None:
        if quarantine_age is None:
            return None
        cutoff = now - timedelta(seconds=duration_s(quarantine_age))
        return f"quarantine created {created_at:%Y-%m-%d}, before {cutoff:%Y-%m-%d}" if created_at <= cutoff else None
    if not snapshots.is_set:
        return None
    reasons = []
    if snapshots.keep_last is not None:
        if index < snapshots.keep_last:
            return None
        reasons.append(f"not among the newest {snapshots.keep_last}")
    if snapshots.max_age is not None:
        cutoff = now - timedelta(seconds=duration_s(snapshots.max_age))
        if created_at > cutoff:
            return None
        reasons.append(f"created {created_at:%Y-%m-%d}, before {cutoff:%Y-%m-%d}")
    return "; ".join(reasons)


__all__ = ["GC_ACTION", "POLICIES", "GcItem", "GcPlan", "apply_gc", "plan_gc"]
