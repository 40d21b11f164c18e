"""Detectors ignore row order: shuffling train and test changes no finding, except that test-row
positions move with their rows. (Row order as a signal is the one deliberate exception.)"""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from leakage_planting import CLEAN, PLANTED

from assay.leakage.detect import DETECTORS, Finding

CASES = CLEAN + PLANTED
ORDER_KIND = "row_order_encodes_target"


def _signature(finding: Finding) -> tuple[object, ...]:
    return (finding.kind, finding.severity, finding.columns, finding.test_row_count, finding.entities, finding.entity_count, tuple(sorted(finding.evidence.items())))


def _shuffle(frame: pl.DataFrame | None, rng: np.random.Generator) -> tuple[pl.DataFrame | None, np.ndarray]:
    if frame is None:
        return None, np.empty(0, dtype=np.int64)
    order = rng.permutation(frame.height)
    return frame[order], order


@settings(max_examples=30, deadline=None)
@given(case_index=st.integers(0, len(CASES) - 1), seed=st.integers(0, 10_000), n=st.integers(60, 240), shuffle_seed=st.integers(0, 10_000))
def test_findings_do_not_depend_on_row_order(case_index: int, seed: int, n: int, shuffle_seed: int) -> None:
    case = CASES[case_index](seed, n)
    rng = np.random.default_rng(shuffle_seed)
    train, _ = _shuffle(case.train, rng)
    test, test_order = _shuffle(case.test, rng)
    validation, _ = _shuffle(case.validation, rng)
    for detect in DETECTORS:
        before = [f for f in detect(case.train, case.test, case.declarations, validation=case.validation) if f.kind != ORDER_KIND]
        after = [f for f in detect(train, test, case.declarations, validation=validation) if f.kind != ORDER_KIND]
        assert sorted(map(_signature, before)) == sorted(map(_signature, after)), detect.__name__
        for old, new in zip(sorted(before, key=_signature), sorted(after, key=_signature), strict=True):
            if old.test_row_count <= len(old.test_rows):  # every flagged row is listed: the sets must match
                assert sorted(int(test_order[r]) for r in new.test_rows) == list(old.test_rows)
