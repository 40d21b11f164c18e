"""The synthetic credit dataset is deterministic and has the documented shape and signal."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from datetime import date
from types import ModuleType

import polars as pl
import pytest

_GENERATOR_PATH = pathlib.Path(__file__).parents[3] / "examples" / "credit" / "generate.py"
_START = date(2023, 1, 1)
_END = date(2025, 1, 1)  # start + 24 months, exclusive

_EXPECTED_SCHEMA = {
    "application_id": pl.String(),
    "customer_id": pl.String(),
    "application_date": pl.Date(),
    "amount": pl.Float64(),
    "term_months": pl.Int64(),
    "income": pl.Float64(),
    "debt_to_income": pl.Float64(),
    "credit_history_months": pl.Int64(),
    "delinquencies_2y": pl.Int64(),
    "employment_years": pl.Float64(),
    "home_ownership": pl.Enum(["rent", "mortgage", "own", "other"]),
    "purpose": pl.Enum(
        [
            "debt_consolidation",
            "credit_card",
            "home_improvement",
            "car",
            "small_business",
            "medical",
            "education",
            "other",
        ]
    ),
    "region": pl.Enum(["north", "south", "east", "west", "central"]),
    "sex": pl.Enum(["female", "male"]),
    "age": pl.Int64(),
    "name": pl.String(),
    "email": pl.String(),
    "defaulted": pl.Int64(),
}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("credit_generate", _GENERATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def frame(generator: ModuleType) -> pl.DataFrame:
    """The default dataset: 60k rows, seed 7."""
    result: pl.DataFrame = generator.generate()
    return result


def _default_rate(frame: pl.DataFrame) -> float:
    return float(frame["defaulted"].mean())  # type: ignore[arg-type]


def test_same_seed_writes_identical_bytes(generator: ModuleType, tmp_path: pathlib.Path) -> None:
    first = generator.write_csv(tmp_path / "a.csv", n_rows=20_000, seed=11)
    second = generator.write_csv(tmp_path / "b.csv", n_rows=20_000, seed=11)

    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]  # no temp files left


def test_different_seed_writes_different_bytes(
    generator: ModuleType, tmp_path: pathlib.Path
) -> None:
    first = generator.write_csv(tmp_path / "a.csv", n_rows=20_000, seed=11)
    second = generator.write_csv(tmp_path / "b.csv", n_rows=20_000, seed=12)

    assert first.read_bytes() != second.read_bytes()


def test_csv_round_trips_to_the_same_values(generator: ModuleType, tmp_path: pathlib.Path) -> None:
    path = generator.write_csv(tmp_path / "credit.csv", n_rows=2_000, seed=3)

    read = pl.read_csv(path, schema=_EXPECTED_SCHEMA)

    assert read.equals(generator.generate(n_rows=2_000, seed=3))


def test_main_writes_the_requested_rows(generator: ModuleType, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "nested" / "credit.csv"

    written = generator.main(["--out", str(out), "--rows", "500", "--seed", "5"])

    assert written == out
    assert pl.read_csv(out).height == 500


def test_columns_and_dtypes_match_the_contract(frame: pl.DataFrame) -> None:
    assert frame.schema == pl.Schema(_EXPECTED_SCHEMA)
    assert frame.height == 60_000


def test_application_ids_are_unique_and_follow_date_order(frame: pl.DataFrame) -> None:
    assert frame["application_id"].n_unique() == frame.height
    assert frame["application_id"].str.contains(r"^APP-\d{7}$").all()
    assert frame["customer_id"].str.contains(r"^CUST-\d{6}$").all()
    assert frame["application_id"].is_sorted()
    assert frame["application_date"].is_sorted()


def test_dates_fall_within_the_window(frame: pl.DataFrame) -> None:
    dates = frame["application_date"]

    assert dates.is_between(_START, _END, closed="left").all()
    assert dates.dt.truncate("1mo").n_unique() == 24


def test_values_stay_in_their_documented_ranges(frame: pl.DataFrame) -> None:
    assert frame["amount"].is_between(1_000, 50_000).all()
    assert frame["term_months"].is_in([12, 24, 36, 48, 60]).all()
    assert frame["debt_to_income"].is_between(0.0, 0.9).all()
    assert frame["employment_years"].drop_nulls().is_between(0.0, 40.0).all()
    assert frame["age"].is_between(18, 80).all()
    assert frame["delinquencies_2y"].min() == 0
    assert (frame["delinquencies_2y"] == 0).mean() > 0.6  # type: ignore[operator]
    assert frame["email"].str.contains(r"^[a-z._0-9]+@example\.(com|org|net)$").all()


def test_default_rate_is_realistic(frame: pl.DataFrame) -> None:
    assert 0.10 <= _default_rate(frame) <= 0.20


def test_default_rate_stays_realistic_for_another_seed(generator: ModuleType) -> None:
    assert 0.10 <= _default_rate(generator.generate(n_rows=20_000, seed=99)) <= 0.20


def test_repeat_customers_keep_their_identity(frame: pl.DataFrame) -> None:
    per_customer = frame.group_by("customer_id").agg(
        applications=pl.len(),
        sexes=pl.col("sex").n_unique(),
        names=pl.col("name").n_unique(),
        emails=pl.col("email").n_unique(),
        regions=pl.col("region").n_unique(),
        age_never_falls=pl.col("age").is_sorted(),
    )

    assert (per_customer["applications"] >= 2).mean() > 0.10  # type: ignore[operator]
    assert per_customer.select(pl.col("sexes", "names", "emails", "regions").max()).row(0) == (
        1,
        1,
        1,
        1,
    )
    assert per_customer["age_never_falls"].all()
    assert frame["email"].n_unique() == per_customer.height  # one email per customer


def test_risk_rises_with_debt_to_income(frame: pl.DataFrame) -> None:
    low_cut, high_cut = frame["debt_to_income"].quantile(0.2), frame["debt_to_income"].quantile(0.8)

    low = frame.filter(pl.col("debt_to_income") <= low_cut)
    high = frame.filter(pl.col("debt_to_income") >= high_cut)

    assert _default_rate(high) - _default_rate(low) > 0.10


def test_renters_default_more_than_owners(frame: pl.DataFrame) -> None:
    rent = frame.filter(pl.col("home_ownership") == "rent")
    own = frame.filter(pl.col("home_ownership") == "own")

    assert _default_rate(rent) - _default_rate(own) > 0.03


def test_small_business_and_delinquencies_raise_risk(frame: pl.DataFrame) -> None:
    small_business = frame.filter(pl.col("purpose") == "small_business")
    clean = frame.filter(pl.col("delinquencies_2y") == 0)
    delinquent = frame.filter(pl.col("delinquencies_2y") >= 2)

    assert _default_rate(small_business) > _default_rate(frame) + 0.05
    assert _default_rate(delinquent) > _default_rate(clean) + 0.10


def test_sex_has_no_material_effect_on_default(frame: pl.DataFrame) -> None:
    female = frame.filter(pl.col("sex") == "female")
    male = frame.filter(pl.col("sex") == "male")

    assert abs(_default_rate(female) - _default_rate(male)) < 0.02


def test_last_months_drift_towards_more_debt_and_defaults(frame: pl.DataFrame) -> None:
    first = frame.filter(pl.col("application_date") < date(2023, 7, 1))
    last = frame.filter(pl.col("application_date") >= date(2024, 10, 1))
    share_dc = pl.col("purpose").eq("debt_consolidation").mean()

    assert last["debt_to_income"].mean() > first["debt_to_income"].mean() + 0.02  # type: ignore[operator]
    assert _default_rate(last) > _default_rate(first) + 0.01
    assert last.select(share_dc).item() > first.select(share_dc).item() + 0.05


def test_drift_is_gradual_not_a_step(frame: pl.DataFrame) -> None:
    monthly = (
        frame.group_by(pl.col("application_date").dt.truncate("1mo").alias("month"))
        .agg(pl.col("debt_to_income").mean())
        .sort("month")
    )

    steps = monthly["debt_to_income"].diff().drop_nulls()

    assert steps.max() < 0.02  # type: ignore[operator]


def test_only_income_and_employment_have_nulls(frame: pl.DataFrame) -> None:
    null_share = {
        name: count / frame.height for name, count in frame.null_count().row(0, named=True).items()
    }

    assert 0.01 < null_share.pop("income") < 0.03
    assert 0.03 < null_share.pop("employment_years") < 0.05
    assert set(null_share.values()) == {0.0}


def test_rejects_a_non_positive_row_count(generator: ModuleType) -> None:
    with pytest.raises(ValueError, match="n_rows"):
        generator.generate(n_rows=0)
