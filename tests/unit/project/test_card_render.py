"""The model card renderer: one self-contained, deterministic HTML page from a card document."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import pytest

from assay.project.card import render_card

SECTION_TITLES = {
    "curves": "<h2>Plots</h2>",
    "fairness": "<h2>For whom: fairness</h2>",
    "slices": "<h2>Where it is weak: slices</h2>",
    "comparisons": "<h3>Compared with the champions</h3>",
    "decision": "<h3>Decision</h3>",
}
PLOT_KEYS = ("curves", "calibration", "score_distribution", "importance")


def _roc(points: int = 50) -> dict[str, list[float]]:
    fpr = [i / (points - 1) for i in range(points)]
    return {"fpr": fpr, "tpr": [x ** 0.35 for x in fpr]}


def _pr(points: int = 50) -> dict[str, list[float]]:
    recall = [i / (points - 1) for i in range(points)]
    return {"recall": recall, "precision": [0.2 + 0.7 * (1 - r) ** 1.5 for r in recall]}


def _bins(skew: float) -> list[dict[str, Any]]:
    return [
        {"mean_predicted": (i + 0.5) / 10, "observed_rate": min(1.0, ((i + 0.5) / 10) ** skew), "count": 1200 - 100 * i}
        for i in range(10)
    ]


def _group(name: str, count: int, positives: int, rate: float, *, small: bool = False) -> dict[str, Any]:
    return {
        "group": name, "count": count, "positives": positives, "selection_rate": rate, "tpr": 0.6 + rate / 2,
        "fpr": rate / 2, "precision": 0.41, "mean_score": positives / count + 0.01,
        "observed_rate": positives / count, "small": small,
    }


def card_document(*, passed: bool = True) -> dict[str, Any]:
    """A complete binary-classification card document, numbers made up but consistent."""
    gates = [
        {"gate": "roc_auc >= 0.7", "value": 0.76, "threshold": ">= 0.7", "passed": True, "detail": ""},
        {"gate": "ece <= 0.05", "value": 0.031, "threshold": "<= 0.05", "passed": True, "detail": ""},
        {"gate": "not worse than production", "value": 0.01, "threshold": "interval low >= -0.01",
         "passed": passed, "detail": "" if passed else "challenger worse than champion"},
    ]
    edges = [i / 20 for i in range(21)]
    return {
        "format": "assay.model-card/1",
        "model": {
            "ref": "credit-default:3", "name": "credit-default", "version": 3,
            "status": "candidate" if passed else "rejected", "flavor": "sklearn",
            "created_at": "2026-11-28T00:20:00+00:00", "description": "Default risk, <b>x</b> & co",
        },
        "task": "classification",
        "primary_metric": "roc_auc",
        "verdict": {"passed": passed, "gates": gates},
        "metrics": {
            "validation": {"roc_auc": 0.77, "pr_auc": 0.44, "log_loss": 0.39},
            "test": {"roc_auc": 0.76, "pr_auc": 0.43, "log_loss": 0.40, "threshold": 0.2077,
                     "precision": 0.41, "recall": 0.62},
        },
        "intervals": {
            "roc_auc": {"low": 0.747, "high": 0.770, "level": 0.95, "resamples": 1000},
            "pr_auc": {"low": 0.41, "high": 0.45, "level": 0.95, "resamples": 1000},
        },
        "decision": {
            "threshold": 0.2077, "rule": "min_cost", "precision": 0.41, "recall": 0.62,
            "predicted_positive_rate": 0.18, "expected_cost_per_row": 0.124, "expected_value_per_row": None,
            "target": None, "reached": True, "note": "",
        },
        "comparisons": {
            "production": {"metric": "roc_auc", "champion": 0.75, "challenger": 0.76, "difference": 0.01,
                           "low": -0.002, "high": 0.021, "level": 0.95, "verdict": "no_significant_difference",
                           "n_resamples": 1000},
        },
        "curves": {"roc": _roc(), "pr": _pr()},
        "calibration": {
            "ece": 0.031, "bins": _bins(1.05),
            "brier": {"brier": 0.12, "reliability": 0.002, "resolution": 0.01, "uncertainty": 0.13},
            "calibrator": {"method": "isotonic", "ece_before": 0.08, "ece_after": 0.031, "bins_before": _bins(1.6)},
        },
        "score_distribution": {
            "edges": edges,
            "positive": [20, 30, 45, 60, 80, 95, 110, 120, 125, 120, 110, 100, 90, 80, 70, 60, 50, 40, 30, 25],
            "negative": [900, 1400, 1300, 1100, 900, 750, 600, 480, 380, 300, 230, 180, 140, 100, 80, 60, 40, 30, 20, 10],
        },
        "fairness": {
            "sex": {
                "groups": [_group("female", 6000, 800, 0.16), _group("male", 5900, 820, 0.18),
                           _group("(missing)", 100, 10, 0.12, small=True)],
                "demographic_parity_difference": 0.02, "demographic_parity_ratio": 0.89,
                "equalized_odds_difference": 0.03, "small_groups": ["(missing)"],
            }
        },
        "slices": {
            "region": {"metric": "roc_auc", "rows": [
                {"slice": "north", "count": 2400, "value": 0.77, "small": False},
                {"slice": "east", "count": 2100, "value": 0.70, "small": False},
                {"slice": "south", "count": 7450, "value": 0.76, "small": False},
                {"slice": "(missing)", "count": 50, "value": None, "small": True},
            ]},
            "worst": [{"column": "region", "slice": "east", "count": 2100, "value": 0.70}],
        },
        "importance": [
            {"feature": name, "drop": round(0.041 * math.exp(-i / 4), 5), "std": 0.003}
            for i, name in enumerate(["debt_to_income", "<b>spend_30d</b>", "age", "income", "tenure_months"]
                                     + [f"f{i:02d}" for i in range(15)])
        ],
        "lineage": {
            "run_id": "run-7f3a", "dataset_version": "ds-0251acf73cb4a90e", "dataset_rows": 60000,
            "split_strategy": "time", "split_sha256": "a" * 64,
            "split_sizes": {"train": 39000, "validation": 9000, "test": 12000},
            "spec_sha256": "b" * 64, "seed": 42, "model_artifact_sha256": "c" * 64,
            "environment": {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "assay": "0.4.0",
                            "git": {"commit": "d" * 40, "dirty": False},
                            "packages": {"scikit-learn": "1.7.2", "numpy": "2.1.0"}},
            "features": [{"name": "spend_30d", "version": "fd528f164dd3"}],
        },
        "warnings": ["test set has 50 rows without region"],
        "generated_at": "2026-11-28T00:21:00+00:00",
    }


def text_only(document: dict[str, Any]) -> dict[str, Any]:
    """The document without anything plotted: text checks stay fast (each plot takes ~0.4 s to draw)."""
    return {**document, "curves": None, "calibration": None, "score_distribution": None, "importance": [], "fairness": {}}


def regression_document() -> dict[str, Any]:
    document = card_document()
    document.update(
        task="regression", primary_metric="rmse", curves=None, calibration=None, fairness={}, decision=None,
        comparisons={}, metrics={"validation": {"rmse": 12.1, "mae": 8.0}, "test": {"rmse": 12.4, "mae": 8.2}},
        intervals={"rmse": {"low": 11.9, "high": 12.9, "level": 0.95, "resamples": 1000}},
        score_distribution={"edges": [-40.0, -20.0, -10.0, 0.0, 10.0, 20.0, 40.0],
                            "residual": [30, 400, 2600, 2700, 420, 50]},
    )
    document["verdict"]["gates"] = [
        {"gate": "rmse <= 15", "value": 12.4, "threshold": "<= 15", "passed": True, "detail": ""}
    ]
    document["slices"]["region"]["metric"] = "rmse"
    return document


@pytest.fixture(scope="module")
def page() -> str:
    return render_card(card_document())


@pytest.fixture(scope="module")
def rejected_page() -> str:
    return render_card(text_only(card_document(passed=False)))


def test_card_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>\n")
    assert "<script" not in page.lower() and "<link" not in page.lower() and "<iframe" not in page.lower()
    assert "http://" not in page and "https://" not in page  # not even the SVG namespaces, which HTML does not need
    assert "<!DOCTYPE svg" not in page and "<?xml" not in page


def test_card_opens_with_the_verdict_then_the_evidence_then_lineage(page: str) -> None:
    order = ['id="verdict"', "<h2>Gates</h2>", "How good, for the decision", "<h2>Plots</h2>", "For whom",
             "Where it is weak", "<h2>Lineage</h2>", "Generated by Assay"]
    assert [page.index(marker) for marker in order] == sorted(page.index(marker) for marker in order)
    assert page.index("<h1>Model card: <code>credit-default:3</code></h1>") < page.index('id="verdict"')


def test_passing_card_says_so(page: str) -> None:
    assert '<div id="verdict" class="ok">' in page
    assert "Passed all 3 gates — registered as candidate" in page


def test_rejected_card_names_the_failed_gates(rejected_page: str) -> None:
    assert '<div id="verdict" class="act">' in rejected_page
    assert "Rejected: failed 1 of 3 gates (status rejected)" in rejected_page
    assert "Passed all" not in rejected_page
    assert ("<li><code>not worse than production</code>: 0.01, needs interval low &gt;= -0.01 — "
            "challenger worse than champion</li>") in rejected_page


def test_every_gate_row_appears_with_its_verdict(rejected_page: str) -> None:
    rows = re.findall(r"<tr><td><code>([^<]*)</code></td>.*?<span class=\"tag (pass|fail)\">", rejected_page)
    assert rows == [("roc_auc &gt;= 0.7", "pass"), ("ece &lt;= 0.05", "pass"), ("not worse than production", "fail")]


def test_an_empty_gate_list_is_said_so() -> None:
    document = text_only(card_document())
    document["verdict"] = {"passed": True, "gates": []}
    page = render_card(document)
    assert "No gates declared." in page and "No gates declared — registered as candidate" in page


def test_a_failed_verdict_without_failed_gates_is_not_shown_as_passed() -> None:
    document = text_only(card_document())
    document["verdict"] = {"passed": False, "gates": []}
    document["model"] = {**document["model"], "status": "rejected"}
    page = render_card(document)
    assert 'class="act"' in page and "no gate failed, but the version is rejected" in page


def test_headline_metrics_decision_and_comparison(page: str) -> None:
    assert '<code>roc_auc</code> <span class="tag pass">primary</span>' in page
    assert page.index("<code>roc_auc</code>") < page.index("<code>pr_auc</code>")
    assert "[0.747, 0.77] (95%)" in page and "1,000 resamples" in page
    assert "Threshold <b>0.2077</b>, chosen by minimum expected cost" in page
    assert "18.0% of rows predicted positive" in page and "Expected cost per row: <b>0.124</b>" in page
    assert "Expected value per row" not in page
    assert "no significant difference" in page and "[-0.002, 0.021] (95%)" in page


def test_an_unreached_target_is_flagged() -> None:
    document = text_only(card_document())
    document["decision"] = {**document["decision"], "rule": "target_precision", "target": 0.9, "reached": False,
                            "note": "best precision was 0.6"}
    page = render_card(document)
    assert "chosen by target precision 0.9" in page and "The target 0.9 was not reached." in page
    assert "best precision was 0.6" in page


def test_sections_appear_with_their_data(page: str) -> None:
    for title in SECTION_TITLES.values():
        assert title in page


@pytest.mark.parametrize("key", sorted(SECTION_TITLES))
@pytest.mark.parametrize("empty", [None, {}, "absent"])
def test_sections_are_left_out_without_their_data(key: str, empty: Any) -> None:
    document = text_only(card_document())  # "Plots" goes only when nothing at all is plotted
    if key == "curves":
        document["fairness"] = card_document()["fairness"]  # its chart is not in the plots section
    if empty == "absent":
        del document[key]
    else:
        document[key] = empty
    page = render_card(document)
    assert SECTION_TITLES[key] not in page
    assert 'id="verdict"' in page and "<h2>Gates</h2>" in page and "<h2>Lineage</h2>" in page


def test_fairness_flags_small_groups(page: str) -> None:
    assert "<td>(missing)</td>" in page and '<span class="tag warning">too small to judge</span>' in page
    assert "Too small to judge (left out of these numbers): (missing)." in page
    assert "demographic parity difference <b>0.02</b>, ratio <b>0.89</b>" in page
    assert "<td>0.1433 vs 0.1333</td>" in page  # mean score vs observed rate


def test_slices_mark_the_worst(page: str) -> None:
    assert '<tr class="worst"><td>east</td>' in page and "<tr><td>north</td>" in page
    assert "<code>region</code> = <b>east</b>: roc_auc 0.7 on 2,100 rows" in page


def test_lineage_lists_the_provenance(page: str) -> None:
    for fact in ("run-7f3a", "ds-0251acf73cb4a90e</code> (60,000 rows)", "time: train 39,000, validation 9,000, test 12,000",
                 "a" * 64, "b" * 64, "c" * 64, "d" * 40 + "</code> (clean)", "numpy 2.1.0, scikit-learn 1.7.2",
                 "<td>spend_30d</td><td><code>fd528f164dd3</code></td>"):
        assert fact in page
    assert "Generated by Assay at 2026-11-28T00:21:00+00:00." in page


def test_lineage_is_always_present() -> None:
    document = text_only(card_document())
    document["lineage"] = None
    assert "<h2>Lineage</h2><p>No lineage recorded.</p>" in render_card(document)


def test_values_are_escaped(page: str) -> None:
    assert "<b>x</b>" not in page and "Default risk, &lt;b&gt;x&lt;/b&gt; &amp; co" in page
    assert "<b>spend_30d</b>" not in page and "&lt;b&gt;spend_30d&lt;/b&gt;" in page  # an importance plot label


def test_rendering_twice_gives_identical_bytes(page: str) -> None:
    assert render_card(card_document()) == page


def test_one_svg_per_plot_present(page: str) -> None:
    assert page.count("<svg") == 6  # roc, pr, reliability, scores, importance, and fairness on sex
    assert "ROC curve" in page and "precision–recall curve" in page and "base rate 14.0%" in page
    assert "before calibration" in page and "after isotonic" in page
    document = card_document()
    document.update(curves=None, importance=[], fairness={})
    smaller = render_card(document)
    assert smaller.count("<svg") == 2 and "ROC curve" not in smaller and "permutation importance" not in smaller


def test_regression_card_renders() -> None:
    page = render_card(regression_document())
    assert page.count("<svg") == 2  # residuals and importance
    assert "residuals on test" in page and "ROC curve" not in page and "For whom" not in page
    assert "Where it is weak: slices" in page and "<h3>Decision</h3>" not in page
    assert '<code>rmse</code> <span class="tag pass">primary</span>' in page
    assert "Passed all 1 gate — registered as candidate" in page
