"""The leakage gate before training: run the detectors on a split, apply the spec's waivers,
and say which critical findings block the run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from assay.errors import LeakageError, SpecError
from assay.leakage.detect import KINDS, Declarations, Finding, LeakageReport, check_leakage
from assay.leakage.split import SplitManifest
from assay.spec.model import Spec, Waiver


@dataclass(frozen=True, slots=True)
class LeakageGate:
    report: LeakageReport
    blocking: tuple[Finding, ...]
    waived: tuple[tuple[Finding, Waiver], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "blocking": [f.to_dict() for f in self.blocking],
            "waived": [{"finding": f.to_dict(), "reason": w.reason} for f, w in self.waived],
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, default=str).encode()

    def blocking_error(self) -> LeakageError:
        lines = [f"  - {f.kind} ({', '.join(f.columns) or 'rows'}): {f.message}\n    fix: {f.fix}" for f in self.blocking]
        first = self.blocking[0]
        columns = f"[{', '.join(first.columns)}]"
        return LeakageError(
            f"{len(self.blocking)} critical leakage finding(s) block training:\n" + "\n".join(lines),
            hint="fix the data or the split; if a finding is not a leak, waive it in assay.yaml with a reason:\n"
            f"    leakage:\n      waivers:\n        - kind: {first.kind}\n          columns: {columns}\n"
            "          reason: why this is not a leak",
        )


def declarations_for(spec: Spec, features: Sequence[str]) -> Declarations:
    data, leakage = spec.data, spec.leakage
    return Declarations(
        target=data.target,
        time=data.time,
        prediction_time=leakage.prediction_time,
        entity=data.entity,
        entity_may_cross=leakage.entity_may_cross,
        id_columns=(data.id,) if data.id else (),
        feature_time=dict(leakage.feature_time),
        features=tuple(features),
    )


def check_waiver_kinds(spec: Spec) -> None:
    unknown = sorted({w.kind for w in spec.leakage.waivers} - set(KINDS))
    if unknown:
        raise SpecError(
            f"leakage.waivers names unknown finding kind(s): {', '.join(unknown)}",
            hint=f"kinds are: {', '.join(KINDS)}",
        )


def _waiver_for(finding: Finding, waivers: Sequence[Waiver]) -> Waiver | None:
    for waiver in waivers:
        # A waiver names a kind and, optionally, columns that must all be among the finding's.
        if waiver.kind == finding.kind and set(waiver.columns) <= set(finding.columns):
            return waiver
    return None


def test_reuse_finding(earlier_runs: Sequence[str]) -> Finding:
    """The same test rows have scored earlier runs: choosing among models by test score turns the
    test split into a validation split, and its metrics stop being an unbiased estimate."""
    count = len(earlier_runs)
    return Finding(
        kind="test_split_reuse",
        severity="warning" if count >= 2 else "info",
        message=f"this test split has already scored {count} earlier run(s) on the same data "
        f"({', '.join(earlier_runs[:5])}{' …' if count > 5 else ''})",
        fix="select models on the validation split; keep the test split for one final check, "
        "or draw a fresh test split (new data, or another seed) before comparing again",
        evidence={"earlier_runs": count},
    )


def gate_leakage(
    frame: pl.DataFrame,
    manifest: SplitManifest,
    spec: Spec,
    *,
    features: Sequence[str],
    earlier_runs: Sequence[str] = (),
    extra: Sequence[Finding] = (),
) -> LeakageGate:
    """Check the split of `frame` for leakage; critical findings not waived in the spec block.

    `earlier_runs` are the runs that were already evaluated on this exact split (test reuse);
    `extra` are findings from checks that live above this layer (representativeness)."""
    check_waiver_kinds(spec)
    parts = {name: frame[manifest.indices[name]] for name in ("train", "validation", "test")}
    report = check_leakage(
        parts["train"],
        parts["test"],
        declarations_for(spec, features),
        validation=parts["validation"] if parts["validation"].height else None,
        seed=spec.seed,
    )
    if earlier_runs:
        report = report.with_finding(test_reuse_finding(earlier_runs))
    for finding in extra:
        report = report.with_finding(finding)
    blocking: list[Finding] = []
    waived: list[tuple[Finding, Waiver]] = []
    for finding in report.findings:
        waiver = _waiver_for(finding, spec.leakage.waivers)
        if waiver is not None:
            waived.append((finding, waiver))
        elif finding.severity == "critical":
            blocking.append(finding)
    return LeakageGate(report, tuple(blocking), tuple(waived))


__all__ = ["LeakageGate", "check_waiver_kinds", "declarations_for", "gate_leakage", "test_reuse_finding"]
