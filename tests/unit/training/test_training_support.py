"""Training support: seeding, environment capture, signatures, model frames and trusted skops loading."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_info

import assay.training
from assay.errors import ArtifactError, DataError
from assay.spec.model import ColumnSchema, DataSchema
from assay.training import build_signature, capture_environment, diff_code, diff_environments, seeded, to_model_frame
from assay.training.flavors.skops_format import dumps_canonical, loads_trusted


class Foreign:
    """A type outside every trusted module (it lives in this test module)."""

    def __init__(self) -> None:
        self.value = 3


def test_public_surface_is_pinned() -> None:
    assert sorted(assay.training.__all__) == sorted(
        [
            "FLAVORS",
            "LoadedModel",
            "TrainedModel",
            "build_signature",
            "capture_environment",
            "diff_code",
            "diff_environments",
            "get_flavor",
            "load_model",
            "predictions_from_bytes",
            "predictions_to_bytes",
            "seeded",
            "to_model_frame",
            "train",
        ]
    )


# --- seeding ----------------------------------------------------------------


def _numpy_state() -> tuple[Any, ...]:
    return cast(tuple[Any, ...], np.random.get_state(legacy=True))


def test_seeded_seeds_the_global_generators() -> None:
    with seeded(123, 1):
        inside = (random.random(), np.random.random())
    with seeded(123, 1):
        again = (random.random(), np.random.random())
    assert inside == again
    random.seed(123)
    np.random.seed(123)
    assert inside == (random.random(), np.random.random())


def test_seeded_restores_the_global_state() -> None:
    random.seed(5)
    np.random.seed(5)
    py_before, np_before = random.getstate(), _numpy_state()
    with seeded(99, 1):
        random.random()
        np.random.random(10)
    assert random.getstate() == py_before
    np_after = _numpy_state()
    assert np_after[0] == np_before[0] and np.array_equal(np_after[1], np_before[1]) and np_after[2:] == np_before[2:]


def test_seeded_restores_the_state_after_an_error() -> None:
    py_before, np_before = random.getstate(), _numpy_state()
    with pytest.raises(RuntimeError), seeded(1, 1):
        random.random()
        np.random.random()
        raise RuntimeError("boom")
    assert random.getstate() == py_before
    assert np.array_equal(_numpy_state()[1], np_before[1])


def test_seeded_accepts_the_largest_spec_seed() -> None:
    with seeded(2**32 - 1, 1):
        np.random.random()


def test_seeded_pins_thread_pools_and_releases_them() -> None:
    before = [p["num_threads"] for p in threadpool_info()]
    with seeded(1, 1):
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert [p["num_threads"] for p in threadpool_info()] == before


# --- environment ------------------------------------------------------------


def test_capture_environment_outside_git(tmp_path: Path) -> None:
    env = capture_environment(tmp_path, extra_packages=["not-a-real-package-xyz"])
    assert env["python"] and env["machine"] and env["byteorder"] in ("little", "big")
    assert env["packages"]["numpy"] == np.__version__
    assert "not-a-real-package-xyz" not in env["packages"]
    assert list(env["packages"]) == sorted(env["packages"])
    assert env["git"] == {"commit": None, "dirty": None}
    assert diff_environments(env, capture_environment(tmp_path)) == []


def test_diff_environments_reports_package_and_python_changes() -> None:
    recorded = {
        "python": "3.11.7",
        "machine": "x86_64",
        "packages": {"numpy": "2.0.0", "scikit-learn": "1.5.0", "lightgbm": "4.3.0"},
    }
    current = {
        "python": "3.12.1",
        "machine": "x86_64",
        "packages": {"numpy": "2.0.0", "scikit-learn": "1.6.1", "xgboost": "2.1.0"},
    }
    assert diff_environments(recorded, current) == [
        "python: 3.11.7 -> 3.12.1",
        "package lightgbm: 4.3.0 -> absent",
        "package scikit-learn: 1.5.0 -> 1.6.1",
        "package xgboost: absent -> 2.1.0",
    ]
    assert diff_environments(recorded, dict(recorded)) == []


def test_diff_code_reports_commit_and_dirty_state() -> None:
    old = {"git": {"commit": "aaa", "dirty": True}}
    new = {"git": {"commit": "bbb", "dirty": True}}
    assert diff_code(old, new) == [
        "git commit: aaa -> bbb",
        "the project folder has uncommitted changes now",
        "the run was recorded from a folder with uncommitted changes",
    ]
    clean = {"git": {"commit": "aaa", "dirty": False}}
    assert diff_code(clean, clean) == []
    assert diff_code({"git": {"commit": None}}, clean) == ["git commit: none -> aaa"]


# --- signature and model frame ----------------------------------------------


def _typed_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "n": [1, 2, None],
            "x": [0.5, None, 2.5],
            "flag": [True, False, None],
            "color": ["red", None, "blue"],
            "day": [date(1970, 1, 2), date(2024, 1, 1), None],
            "at": [datetime(1970, 1, 1, 0, 1), datetime(2024, 1, 1), None],
            "y": [0, 1, 0],
        }
    )


def test_build_signature_from_data() -> None:
    frame = _typed_frame()
    signature = build_signature(
        frame, ["n", "color", "day"], schema=None, task="classification", target="y", classes=(np.int64(0), np.int64(1))
    )
    assert signature == {
        "inputs": [
            {"name": "n", "type": "int", "nullable": True},
            {"name": "color", "type": "string", "nullable": True, "categories": ["blue", "red"]},
            {"name": "day", "type": "date", "nullable": True},
        ],
        "output": {"kind": "probability", "target": "y", "classes": [0, 1]},
    }
    assert type(signature["output"]["classes"][0]) is int  # plain, JSON-serialisable


def test_build_signature_prefers_the_declared_schema() -> None:
    frame = _typed_frame()
    schema = DataSchema(columns={"color": ColumnSchema(type="category", nullable=False)})
    signature = build_signature(frame, ["color"], schema=schema, task="regression", target="y", classes=None)
    assert signature["inputs"] == [
        {"name": "color", "type": "category", "nullable": False, "categories": ["blue", "red"]}
    ]
    assert signature["output"] == {"kind": "value", "target": "y"}


def test_to_model_frame_converts_every_type() -> None:
    frame = _typed_frame()
    features = ["n", "x", "flag", "color", "day", "at"]
    signature = build_signature(frame, features, schema=None, task="regression", target="y", classes=None)
    X = to_model_frame(frame.select(reversed(frame.columns)), signature)
    assert list(X.columns) == features
    assert X["n"].tolist()[:2] == [1.0, 2.0] and np.isnan(X["n"].iloc[2])
    assert X["flag"].tolist()[:2] == [1.0, 0.0]
    assert X["color"].iloc[0] == "red" and X["color"].iloc[2] == "blue"
    missing = X["color"].iloc[1]
    assert isinstance(missing, float) and np.isnan(missing)  # NaN, not None: what every encoder expects
    assert X["day"].tolist()[0] == 1.0  # days since the epoch
    assert X["at"].tolist()[0] == 60.0  # seconds since the epoch
    assert all(X[c].dtype == np.float64 for c in ("n", "x", "flag", "day", "at"))


def test_to_model_frame_names_every_missing_column() -> None:
    frame = _typed_frame()
    signature = build_signature(frame, ["n", "x", "color"], schema=None, task="regression", target="y", classes=None)
    with pytest.raises(DataError) as info:
        to_model_frame(frame.drop("n", "color"), signature)
    assert "n, color" in info.value.message
    assert info.value.hint


# --- trusted skops loading ---------------------------------------------------


def test_canonical_skops_bytes_are_identical_for_identical_models() -> None:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    first = dumps_canonical(LogisticRegression().fit(X, y))
    again = dumps_canonical(LogisticRegression().fit(X, y))
    assert first == again
    loaded = loads_trusted(first)
    assert np.array_equal(loaded.predict_proba(X), LogisticRegression().fit(X, y).predict_proba(X))


def test_loads_trusted_refuses_a_type_outside_the_trusted_modules() -> None:
    data = dumps_canonical(Foreign())
    type_name = f"{Foreign.__module__}.Foreign"
    with pytest.raises(ArtifactError) as info:
        loads_trusted(data)
    assert type_name in info.value.message
    assert "model.factory" in info.value.hint
    with pytest.raises(ArtifactError):
        loads_trusted(data, trusted_modules=("some_other_module",))


def test_loads_trusted_accepts_a_type_from_a_trusted_module() -> None:
    data = dumps_canonical(Foreign())
    loaded = loads_trusted(data, trusted_modules=(Foreign.__module__,))
    assert type(loaded).__name__ == "Foreign" and loaded.value == 3


def test_loads_trusted_does_not_trust_a_module_by_name_prefix() -> None:
    data = dumps_canonical(Foreign())
    prefix = Foreign.__module__[:-1]
    with pytest.raises(ArtifactError):
        loads_trusted(data, trusted_modules=(prefix,))


@pytest.mark.parametrize("function", [eval, exec, getattr], ids=["eval", "exec", "getattr"])
def test_loads_trusted_refuses_dangerous_builtins(function: object) -> None:
    data = dumps_canonical(FunctionTransformer(func=function))
    with pytest.raises(ArtifactError, match=f"builtins.{function.__name__}"):  # type: ignore[attr-defined]
        loads_trusted(data)
