"""The project's registered model as the baseline servers and the raw worker use it: loaded once
through Assay's own loader, answering the positive-class probability for JSON rows. The model is the
one the project's assay.yaml names (`model.name`, newest version: the one the bench promoted), and
its data is the spec's `data.source`, so the demo and the reference project load alike.

Shared by `fastapi_floor.py`, `bentoml_service.py` and `workers/raw.py` (benchmark code only; it runs
in the project's environment and in the BentoML venv, which has Assay installed editable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from assay.project.calibrated import load_registered
from assay.project.workspace import Project
from assay.training.flavors import LoadedModel
from assay.training.signature import to_model_frame

_POLARS_TYPES = {"float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean}


@dataclass(frozen=True, slots=True)
class BenchModel:
    loaded: LoadedModel
    signature: Mapping[str, Any]

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.signature["inputs"])

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
        """JSON rows → a polars frame typed by the signature (dates arrive as ISO text)."""
        schema = {c["name"]: _POLARS_TYPES.get(c["type"], pl.String) for c in self.inputs}
        frame = pl.from_dicts(list(rows), schema=schema)
        dates = [pl.col(c["name"]).str.to_date() for c in self.inputs if c["type"] == "date"]
        stamps = [pl.col(c["name"]).str.to_datetime() for c in self.inputs if c["type"] == "datetime"]
        return frame.with_columns(dates + stamps) if dates or stamps else frame

    def predict_frame(self, frame: pl.DataFrame) -> np.ndarray:
        return np.asarray(self.loaded.predict(to_model_frame(frame, self.signature)))

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        """Positive-class probability per row (or the raw predictions for a non-binary model)."""
        out = self.predict_frame(self.frame(rows))
        return (out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out).tolist()


def open_model(project_dir: Path | str) -> BenchModel:
    """Load the registered model once, with numeric thread pools held at one thread for the process."""
    threadpool_limits(limits=1)
    with Project.open(Path(project_dir)) as project:
        spec, _ = project.load_spec()
        version = project.resolve_model(spec.model.name)
        loaded = load_registered(project, version)
        return BenchModel(loaded=loaded, signature=dict(version.signature))


def data_path(project_dir: Path | str) -> Path:
    """The project's CSV (`data.source`, relative to assay.yaml)."""
    project_dir = Path(project_dir)
    with Project.open(project_dir) as project:
        spec, _ = project.load_spec()
    if spec.data.source is None:
        raise SystemExit(f"{project_dir}: the bench needs a project with one data.source")
    return project_dir / spec.data.source
