"""Every planted leak is found with the right kind, severity, columns and examples; clean
look-alikes (a strong real predictor, entities allowed to cross, naturally [0, 1] columns,
chance duplicates, unrelated ids, test rows later than train) raise nothing above info."""

from __future__ import annotations

import pytest
from leakage_planting import CLEAN, PLANTED, Case

from assay.leakage.detect import Finding, check_leakage

SEEDS = (0, 1, 2)
# Fainter strengths (levels 2 and 3) are near or below the detection limits on purpose: the
# benchmark (bench/leakage) measures recall there; these tests pin the clear cases.


def _run(case: Case) -> list[Finding]:
    return list(check_leakage(case.train, case.test, case.declarations, validation=case.validation).findings)


@pytest.mark.parametrize("level", (0, 1), ids=("blatant", "clear"))
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("make", PLANTED, ids=lambda make: make.__name__)
def test_planted_leak_is_found(make, seed: int, level: int) -> None:
    case = make(seed, level=level)
    found = [f for f in _run(case) if f.kind == case.kind]
    assert len(found) == 1, [f.kind for f in _run(case)]
    finding = found[0]
    assert finding.severity == case.severity
    assert set(case.columns) <= set(finding.columns)
    if case.test_rows:
        assert finding.test_rows, "the finding names example test rows"
        assert set(finding.test_rows) <= case.test_rows
        assert finding.test_row_count == len(case.test_rows)
    if case.entities:
        assert finding.entities and set(finding.entities) <= case.entities
        assert finding.entity_count == len(case.entities)
    assert finding.message and finding.fix


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("make", PLANTED, ids=lambda make: make.__name__)
def test_planted_leak_raises_no_other_critical_finding(make, seed: int) -> None:
    case = make(seed)
    assert {f.kind for f in _run(case) if f.severity == "critical"} <= {case.kind}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("make", CLEAN, ids=lambda make: make.__name__)
def test_clean_look_alike_raises_nothing_above_info(make, seed: int) -> None:
    case = make(seed)
    assert [(f.kind, f.severity) for f in _run(case) if f.severity != "info"] == []
