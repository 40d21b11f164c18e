"""`assay doctor`: what in a project folder would leak — secrets committed in its files, and
personal-data columns in its data source that the spec does not declare in data.pii.

It reads files and the data source's first rows only: no metadata store is opened and nothing is
written, so it runs in CI on a fresh checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.data.pii_columns import SAMPLE_ROWS, undeclared_pii
from assay.data.source import SourceRef
from assay.errors import DataSourceError
from assay.security.leaks import project_files, scan_files
from assay.spec import SPEC_FILENAME, load_spec


@dataclass(frozen=True, slots=True)
class DoctorFinding:
    """One problem: where (file:line, or data-file:column), what kind, the evidence (masked), what to do."""

    location: str
    kind: str
    detail: str
    advice: str

    def to_dict(self) -> dict[str, str]:
        return {"location": self.location, "kind": self.kind, "detail": self.detail, "advice": self.advice}


@dataclass(frozen=True, slots=True)
class DoctorReport:
    root: Path
    files_scanned: int
    columns_checked: tuple[str, ...]  # data files whose columns were checked
    findings: tuple[DoctorFinding, ...]
    notes: tuple[str, ...]  # what could not be checked, and why

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "clean": self.clean,
            "files_scanned": self.files_scanned,
            "data_checked": list(self.columns_checked),
            "findings": [finding.to_dict() for finding in self.findings],
            "notes": list(self.notes),
        }


def run_doctor(root: Path | str, *, sample_rows: int = SAMPLE_ROWS) -> DoctorReport:
    """Scan the project in `root` (its spec is optional: without one only files are scanned)."""
    root = Path(root).resolve()
    files = project_files(root)
    findings = [
        DoctorFinding(f"{leak.path}:{leak.line}", leak.kind, leak.masked, leak.advice)
        for leak in scan_files(root, files)
    ]
    checked: list[str] = []
    notes: list[str] = []
    spec_path = root / SPEC_FILENAME
    if not spec_path.is_file():
        notes.append(f"no {SPEC_FILENAME}: data columns not checked")
    else:
        spec = load_spec(spec_path)
        data = spec.data
        sources = [data.source] if data.source else []
        if data.sources is not None:
            sources = [s for s in (data.sources.train, data.sources.validation, data.sources.test) if s]
        for source in sources:
            ref = SourceRef.resolve(source, base_dir=root, declared=data.format)
            try:
                columns = undeclared_pii(ref, data.pii, sample_rows=sample_rows)
            except DataSourceError as exc:
                notes.append(f"data source {source} not checked: {exc}")
                continue
            checked.append(source)
            findings.extend(
                DoctorFinding(f"{source}:{column.column}", "undeclared-pii",
                              f"looks like {column.looks_like} ({column.evidence})",
                              f"add {column.column!r} to data.pii in {SPEC_FILENAME}")
                for column in columns
            )
    return DoctorReport(root, len(files), tuple(checked), tuple(findings), tuple(notes))


__all__ = ["DoctorFinding", "DoctorReport", "run_doctor"]
