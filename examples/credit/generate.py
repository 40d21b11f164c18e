"""Deterministic generator of a synthetic loan-default dataset.

Each row is one loan application; ``defaulted`` is the target. Customers may apply
more than once, and their personal attributes stay consistent across applications.
Default risk comes from a latent logistic model with relationships a credit analyst
would recognise, and the last months carry a gradual drift (higher debt-to-income,
more debt consolidation, a higher default rate). See ``README.md`` next to this file.

Run ``python examples/credit/generate.py --out credit.csv [--rows N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import calendar
import os
import pathlib
import secrets
from collections.abc import Sequence
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import polars as pl

__all__ = ["COLUMNS", "SCHEMA", "generate", "main", "write_csv"]

HOME_OWNERSHIP: Final = ("rent", "mortgage", "own", "other")
PURPOSES: Final = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "small_business",
    "medical",
    "education",
    "other",
)
REGIONS: Final = ("north", "south", "east", "west", "central")
SEXES: Final = ("female", "male")
TERMS_MONTHS: Final = (12, 24, 36, 48, 60)

SCHEMA: Final = MappingProxyType(
    {
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
        "home_ownership": pl.Enum(HOME_OWNERSHIP),
        "purpose": pl.Enum(PURPOSES),
        "region": pl.Enum(REGIONS),
        "sex": pl.Enum(SEXES),
        "age": pl.Int64(),
        "name": pl.String(),
        "email": pl.String(),
        "defaulted": pl.Int64(),
    }
)
COLUMNS: Final = tuple(SCHEMA)

_FEMALE_FIRST: Final = (
    "Anna", "Maria", "Emma", "Olivia", "Sophie", "Laura", "Julia", "Sarah", "Hannah",
    "Grace", "Chloe", "Emily", "Lucy", "Mia", "Nora", "Clara", "Alice", "Ella", "Zoe",
    "Isabel", "Amara", "Priya", "Mei", "Fatima", "Elena", "Ines", "Rosa", "Yuki",
    "Leila", "Naomi",
)  # fmt: skip
_MALE_FIRST: Final = (
    "James", "John", "David", "Michael", "Daniel", "Thomas", "Lucas", "Noah", "Oliver",
    "Samuel", "Adam", "Leo", "Max", "Jack", "Henry", "Oscar", "Peter", "Paul", "Mark",
    "Ivan", "Omar", "Ravi", "Wei", "Kenji", "Mateo", "Diego", "Ahmed", "Tariq",
    "Andre", "Kofi",
)  # fmt: skip
_LAST: Final = (
    "Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark",
    "Walker", "Hall", "Young", "King", "Wright", "Green", "Baker", "Adams", "Nelson",
    "Carter", "Mitchell", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris",
    "Murphy", "Cook", "Rogers", "Reed", "Bailey", "Cooper", "Howard", "Ward", "Cox",
    "Garcia", "Martinez", "Lopez", "Silva", "Rossi", "Novak", "Kowalski", "Schmidt",
    "Muller", "Dubois", "Jensen", "Larsen", "Patel", "Singh", "Khan", "Nguyen", "Chen",
    "Wang", "Kim", "Tanaka", "Okafor", "Mensah", "Haddad", "Cohen", "Ivanov", "Petrov",
)  # fmt: skip
_EMAIL_DOMAINS: Final = ("example.com", "example.org", "example.net")

_CUSTOMERS_PER_APPLICATION: Final = 0.75  # 60k applications from ~45k customers
_DRIFT_MONTHS: Final = 6
_DAYS_PER_YEAR: Final = 365.25
_DAYS_PER_MONTH: Final = _DAYS_PER_YEAR / 12

# Latent logistic model of default; sex deliberately has no term.
_INTERCEPT: Final = -2.7
_PURPOSE_LOGIT: Final = np.array([0.10, 0.05, -0.15, -0.25, 0.70, 0.25, 0.15, 0.0])
_HOME_LOGIT: Final = np.array([0.30, -0.10, -0.20, 0.15])
_REGION_LOGIT: Final = np.array([-0.05, 0.12, 0.0, -0.08, 0.04])
_REGION_LOG_INCOME: Final = np.array([0.04, -0.08, 0.06, 0.03, -0.02])
_PURPOSE_LOG_AMOUNT: Final = np.array([0.25, -0.20, 0.30, 0.20, 0.45, -0.45, -0.10, -0.30])
_PURPOSE_BASE_P: Final = np.array([0.36, 0.20, 0.10, 0.10, 0.05, 0.06, 0.05, 0.08])
_PURPOSE_DRIFT_WEIGHT: Final = 0.30  # share of mass moved to debt_consolidation at the end
_DTI_DRIFT: Final = 0.06  # added to debt_to_income by the end of the drift window
_LOGIT_DRIFT: Final = 0.40  # unobserved rise in risk by the end of the drift window


def generate(
    *,
    n_rows: int = 60_000,
    seed: int = 7,
    start: date = date(2023, 1, 1),
    months: int = 24,
) -> pl.DataFrame:
    """Return ``n_rows`` loan applications over ``months`` months from ``start``.

    The frame has the columns of ``SCHEMA`` in that order, sorted by
    ``application_date``. The same arguments always give an identical frame.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}; pass a positive row count")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}; pass a positive span")
    rng = np.random.default_rng(seed)
    n_days = (_add_months(start, months) - start).days

    # Customers: stable attributes, fixed at the start of the window.
    n_customers = max(1, min(n_rows, round(n_rows * _CUSTOMERS_PER_APPLICATION)))
    quality = rng.standard_normal(n_customers)  # unobserved credit quality, higher is better
    sex = rng.integers(0, len(SEXES), n_customers)
    max_start_age = max(18.0, 80.0 - months / 12)
    age_at_start = np.minimum(18.0 + rng.gamma(2.2, 8.0, n_customers), max_start_age)
    region = rng.choice(len(REGIONS), n_customers, p=[0.18, 0.24, 0.20, 0.16, 0.22])
    home = _sample_rows(rng, _home_probabilities(age_at_start))
    log_income = (
        np.log(52_000.0)
        + 0.42 * rng.standard_normal(n_customers)
        - 0.0006 * (age_at_start - 47.0) ** 2
        + 0.12 * quality
        + _REGION_LOG_INCOME[region]
    )
    history_at_start = 6.0 + (age_at_start - 18.0) * 12.0 * rng.beta(2.5, 2.0, n_customers)
    employment_at_start = np.minimum(age_at_start - 18.0, 40.0) * rng.beta(1.1, 2.2, n_customers)
    first_name_idx = rng.integers(0, len(_FEMALE_FIRST), n_customers)
    last_name_idx = rng.integers(0, len(_LAST), n_customers)
    email_style = rng.integers(0, 3, n_customers)
    email_number = rng.integers(1, 100, n_customers)
    email_domain = rng.choice(len(_EMAIL_DOMAINS), n_customers, p=[0.5, 0.3, 0.2])

    # Applications: every customer applies once; the rest go to a skewed subset.
    propensity = rng.gamma(0.6, 1.0, n_customers)
    extra = rng.choice(n_customers, n_rows - n_customers, p=propensity / propensity.sum())
    customer = np.concatenate([np.arange(n_customers), extra])
    day = rng.choice(n_days, n_rows, p=_day_weights(start, n_days))
    order = np.lexsort((rng.random(n_rows), day))
    customer, day = customer[order], day[order]

    elapsed_years = day / _DAYS_PER_YEAR
    drift = _drift_ramp(start, months, day)
    q = quality[customer]

    age = np.clip(np.floor(age_at_start[customer] + elapsed_years), 18, 80).astype(np.int64)
    income = np.exp(
        log_income[customer] + 0.02 * elapsed_years + 0.04 * rng.standard_normal(n_rows)
    )
    income = np.round(np.clip(income, 9_000.0, 1_500_000.0), 2)
    history = np.floor(history_at_start[customer] + day / _DAYS_PER_MONTH).astype(np.int64)
    employment = np.round(np.clip(employment_at_start[customer] + elapsed_years, 0.0, 40.0), 1)

    purpose_p = (1.0 - _PURPOSE_DRIFT_WEIGHT * drift)[:, None] * _PURPOSE_BASE_P
    purpose_p[:, 0] += _PURPOSE_DRIFT_WEIGHT * drift
    purpose = _sample_rows(rng, purpose_p)
    log_amount = (
        np.log(9_500.0)
        + 0.5 * (np.log(income) - np.log(52_000.0))
        + _PURPOSE_LOG_AMOUNT[purpose]
        + 0.55 * rng.standard_normal(n_rows)
    )
    amount = np.round(np.clip(np.exp(log_amount), 1_000.0, 50_000.0) / 25.0) * 25.0
    term_score = 0.9 * np.log(amount / 9_500.0) + 0.8 * rng.standard_normal(n_rows)
    term = np.asarray(TERMS_MONTHS)[np.searchsorted([-1.1, -0.35, 0.45, 1.1], term_score)]
    dti = 0.8 * rng.beta(2.2, 6.0, n_rows) - 0.03 * q + _DTI_DRIFT * drift
    dti = np.round(np.clip(dti, 0.0, 0.85), 4)
    delinquencies = rng.poisson(0.22 * np.exp(-0.7 * q))

    income_missing = rng.random(n_rows) < 0.02
    employment_missing = rng.random(n_rows) < 0.04

    logit = (
        _INTERCEPT
        + 4.0 * (dti - 0.22)
        + 0.45 * delinquencies
        + 0.55 * np.log(amount / income / 0.18)
        + 0.015 * (term - 36)
        + _PURPOSE_LOGIT[purpose]
        + _HOME_LOGIT[home[customer]]
        + _REGION_LOGIT[region[customer]]
        - 0.45 * np.log((history + 12.0) / 120.0)
        + np.where(employment_missing, 0.40, np.where(employment < 1.0, 0.35, 0.0))
        - 0.02 * np.minimum(employment, 15.0)
        - 0.35 * np.log(income / 52_000.0)
        - 0.008 * (age - 40)
        + 0.20 * income_missing
        - 0.50 * q
        + _LOGIT_DRIFT * drift
    )
    defaulted = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    customer_number = _number_by_first_appearance(customer, n_customers)
    identity = _identity_frame(
        sex=sex,
        first_name_idx=first_name_idx,
        last_name_idx=last_name_idx,
        email_style=email_style,
        email_number=email_number,
        email_domain=email_domain,
    )[customer]
    frame = pl.DataFrame(
        {
            "application_id": _format_ids("APP-", np.arange(1, n_rows + 1), width=7),
            "customer_id": _format_ids("CUST-", customer_number[customer], width=6),
            "application_date": np.datetime64(start, "D") + day,
            "amount": amount,
            "term_months": term.astype(np.int64),
            "income": np.where(income_missing, np.nan, income),
            "debt_to_income": dti,
            "credit_history_months": history,
            "delinquencies_2y": delinquencies.astype(np.int64),
            "employment_years": np.where(employment_missing, np.nan, employment),
            "home_ownership": _pick(HOME_OWNERSHIP, home[customer], pl.Enum(HOME_OWNERSHIP)),
            "purpose": _pick(PURPOSES, purpose, pl.Enum(PURPOSES)),
            "region": _pick(REGIONS, region[customer], pl.Enum(REGIONS)),
            "sex": _pick(SEXES, sex[customer], pl.Enum(SEXES)),
            "age": age,
            "name": identity["name"],
            "email": identity["email"],
            "defaulted": defaulted,
        }
    )
    return frame.with_columns(
        pl.col("income", "employment_years").fill_nan(None),
        pl.col("application_date").cast(pl.Date),
    ).cast(pl.Schema(SCHEMA))


def write_csv(path: pathlib.Path, *, n_rows: int = 60_000, seed: int = 7) -> pathlib.Path:
    """Write ``generate(n_rows=n_rows, seed=seed)`` to ``path`` atomically; return ``path``.

    The file is written next to ``path`` under a temporary name and then moved into
    place, so a crash never leaves a partial file. The bytes depend only on the seed.
    """
    frame = generate(n_rows=n_rows, seed=seed)
    tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        frame.write_csv(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def main(argv: Sequence[str] | None = None) -> pathlib.Path:
    """Parse ``--out PATH [--rows N] [--seed S]``, write the CSV and return its path."""
    parser = argparse.ArgumentParser(description="Generate the synthetic credit dataset as CSV.")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="CSV file to write")
    parser.add_argument("--rows", type=_positive_int, default=60_000, help="number of applications")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    args = parser.parse_args(argv)
    out: pathlib.Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(out, n_rows=args.rows, seed=args.seed)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day_weights(start: date, n_days: int) -> np.ndarray:
    """Application volume per day: growth over the window, seasonality, quiet weekends."""
    days = np.datetime64(start, "D") + np.arange(n_days)
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    growth = 1.0 + 0.5 * np.arange(n_days) / n_days
    season = 1.0 + 0.12 * np.sin(2.0 * np.pi * (day_of_year - 80) / _DAYS_PER_YEAR)
    weights = growth * season * np.where(weekday >= 5, 0.55, 1.0)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _drift_ramp(start: date, months: int, day: np.ndarray) -> np.ndarray:
    """0 before the last ``_DRIFT_MONTHS`` months, rising linearly to 1 at the end."""
    end = (_add_months(start, months) - start).days
    ramp_start = (_add_months(start, max(0, months - _DRIFT_MONTHS)) - start).days
    return np.clip((day - ramp_start) / max(1, end - ramp_start), 0.0, 1.0)


def _home_probabilities(age: np.ndarray) -> np.ndarray:
    """Rent when young, mortgage in mid-life, own outright later."""
    rent = np.clip(0.70 - 0.015 * (age - 22.0), 0.15, 0.70)
    own = np.clip(0.02 + 0.007 * (age - 30.0), 0.02, 0.35)
    other = np.full_like(age, 0.04)
    mortgage = 1.0 - rent - own - other
    return np.column_stack([rent, mortgage, own, other])


def _sample_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw one category index per row of a (rows, categories) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    drawn = (rng.random(len(probabilities))[:, None] > cumulative).sum(axis=1)
    return np.asarray(np.minimum(drawn, probabilities.shape[1] - 1), dtype=np.int64)


def _number_by_first_appearance(customer: np.ndarray, n_customers: int) -> np.ndarray:
    """Customer numbers 1..n in order of each customer's first application."""
    _, first_position = np.unique(customer, return_index=True)
    number = np.empty(n_customers, dtype=np.int64)
    number[customer[np.sort(first_position)]] = np.arange(1, n_customers + 1)
    return number


def _pick(values: Sequence[str], codes: np.ndarray, dtype: pl.DataType) -> pl.Series:
    """``values[code]`` for each code, built in polars rather than as Python strings."""
    return pl.Series(values, dtype=dtype).gather(codes)


def _format_ids(prefix: str, numbers: np.ndarray, *, width: int) -> pl.Series:
    digits = pl.Series(numbers).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + pl.lit(digits)).to_series()


def _identity_frame(
    *,
    sex: np.ndarray,
    first_name_idx: np.ndarray,
    last_name_idx: np.ndarray,
    email_style: np.ndarray,
    email_number: np.ndarray,
    email_domain: np.ndarray,
) -> pl.DataFrame:
    """One row per customer: ``name`` and a unique ``email`` derived from it."""
    first_names = _FEMALE_FIRST + _MALE_FIRST  # female names first, sex code 0
    frame = pl.DataFrame(
        {
            "first": _pick(first_names, sex * len(_FEMALE_FIRST) + first_name_idx, pl.String()),
            "last": _pick(_LAST, last_name_idx, pl.String()),
            "style": email_style,
            "number": email_number,
            "domain": _pick(_EMAIL_DOMAINS, email_domain, pl.String()),
        }
    )
    first_lower, last_lower = pl.col("first").str.to_lowercase(), pl.col("last").str.to_lowercase()
    local = (
        pl.when(pl.col("style") == 0)
        .then(first_lower + "." + last_lower)
        .when(pl.col("style") == 1)
        .then(first_lower.str.slice(0, 1) + last_lower)
        .otherwise(first_lower + "_" + last_lower)
    )
    # Same local part and number as an earlier customer: bump by 100 so emails stay unique.
    repeat = pl.int_range(pl.len()).over("local", "number")
    return (
        frame.with_columns(local=local)
        .with_columns(number=pl.col("number") + 100 * repeat)
        .select(
            name=pl.col("first") + " " + pl.col("last"),
            email=pl.col("local") + pl.col("number").cast(pl.String) + "@" + pl.col("domain"),
        )
    )


if __name__ == "__main__":
    written = main()
    print(f"wrote {written}")
