"""`assay leakage check` on ad hoc files: exit codes, JSON, human table, declaration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from leakage_planting import clean_base, planted_entity_overlap
from typer.testing import CliRunner

from assay.cli.leakage import leakage_app
from assay.errors import LeakageError

DECLARED = ["--target", "y", "--time", "applied_at", "--entity", "customer_id", "--id-columns", "row_id", "--feature-time", "x2=x2_observed_at"]


def _write(tmp_path: Path, case, *, parquet_test: bool = False) -> list[str]:
    train, test = tmp_path / "train.csv", tmp_path / ("test.parquet" if parquet_test else "test.csv")
    case.train.write_csv(train)
    if parquet_test:
        case.test.write_parquet(test)
    else:
        case.test.write_csv(test)
    return ["check", "--train", str(train), "--test", str(test)]


def test_critical_finding_exits_1_and_json_lists_it(tmp_path: Path) -> None:
    case = planted_entity_overlap(0)
    result = CliRunner().invoke(leakage_app, [*_write(tmp_path, case, parquet_test=True), *DECLARED, "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    finding = next(f for f in document["findings"] if f["kind"] == "entity_overlap")
    assert finding["severity"] == "critical"
    assert finding["columns"] == ["customer_id"]
    assert set(finding["test_rows"]) <= case.test_rows and set(finding["entities"]) <= case.entities
    assert finding["evidence"]["shared_test_rows"] == len(case.test_rows)


def test_clean_files_exit_0_with_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(leakage_app, [*_write(tmp_path, clean_base(0)), *DECLARED])
    assert result.exit_code == 0, result.output
    assert "no critical leakage" in result.output
    assert "target_name_hint" in result.output  # info findings are still shown


def test_human_output_shows_severity_and_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(leakage_app, [*_write(tmp_path, planted_entity_overlap(1)), *DECLARED])
    assert result.exit_code == 1
    assert "critical" in result.output and "split by customer_id" in result.output
    assert "critical leakage found: 1 critical" in result.output


def test_missing_declared_column_raises_leakage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(leakage_app, [*_write(tmp_path, clean_base(0)), "--target", "defaulted"])
    assert isinstance(result.exception, LeakageError)
    assert "target column 'defaulted' is not in" in str(result.exception)


@pytest.mark.parametrize("value", ["x2", "=x2_observed_at", "x2="])
def test_malformed_feature_time_is_a_usage_error(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(leakage_app, [*_write(tmp_path, clean_base(0)), "--target", "y", "--time", "applied_at", "--feature-time", value])
    assert result.exit_code == 2


def test_group_mounts_under_a_root_app(tmp_path: Path) -> None:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """A stand-in for the assay root command."""

    root.add_typer(leakage_app, name="leakage")
    result = CliRunner().invoke(root, ["leakage", *_write(tmp_path, clean_base(1)), "--target", "y", "--time", "applied_at", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["critical"] == 0
