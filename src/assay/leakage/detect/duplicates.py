"""Test rows that also appear in train, exactly or nearly, beyond what chance gives data like this."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from assay.leakage.detect._stats import is_numeric
from assay.leakage.detect.finding import Declarations, Finding, Severity, examples

SIGNIFICANT_DIGITS = 3
CRITICAL_EXCESS = 0.05  # share of test rows beyond chance
WARNING_EXCESS = 0.005
_HASH_SEED = 11


def _exact(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Every column as Float64 (numbers, booleans) or String (the rest), so both frames hash alike."""
    return frame.select(
        pl.col(c).cast(pl.Float64) if is_numeric(frame.schema[c]) else pl.col(c).cast(pl.String) for c in columns
    )


def _rounded(values: pl.Expr) -> pl.Expr:
    magnitude = (10.0 ** (values.abs().log10().floor() - (SIGNIFICANT_DIGITS - 1)))
    return pl.when(values == 0).then(0.0).otherwise((values / magnitude).round(0) * magnitude)


def _near(exact: pl.DataFrame) -> pl.DataFrame:
    """Numbers rounded to a few significant digits, text lower-cased with whitespace collapsed."""
    return exact.select(
        _rounded(pl.col(c)).alias(c)
        if exact.schema[c] == pl.Float64
        else pl.col(c).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars().alias(c)
        for c in exact.columns
    )


def _collision(column: pl.Series) -> float:
    """Unbiased chance that two different rows hold the same value."""
    n = column.len()
    if n < 2:
        return 1.0
    counts = column.rename("v").value_counts().get_column("count").to_numpy().astype(np.float64)
    return float((counts * (counts - 1)).sum() / (n * (n - 1.0)))


@dataclass(frozen=True, slots=True)
class _Match:
    matched: np.ndarray  # bool per test row
    chance: float  # share of test rows expected to match a training row by chance


def _match(train: pl.DataFrame, test: pl.DataFrame) -> _Match:
    train_hash = train.hash_rows(seed=_HASH_SEED)
    test_hash = test.hash_rows(seed=_HASH_SEED)
    matched = test_hash.is_in(train_hash.implode()).to_numpy()
    n = train.height
    repeated = float(np.mean(train_hash.is_duplicated().to_numpy())) if n > 1 else 0.0
    collisions = [_collision(train.get_column(c)) for c in train.columns]
    # Chance lies between independent columns (product) and the least-repeated column alone (min);
    # the duplicate rate inside train stands in for correlated columns, capped by that bound.
    independent = 1.0 - (1.0 - float(np.prod(collisions))) ** n
    bound = 1.0 - (1.0 - min(collisions, default=1.0)) ** n
    chance = min(bound, max(independent, repeated))
    return _Match(matched, chance)


def _excess(count: int, n: int, chance: float) -> tuple[float, bool]:
    expected = chance * n
    spread = np.sqrt(max(n * chance * (1 - chance), 0.0))
    excess = count - expected
    return excess / n if n else 0.0, excess > 3 * spread + 2


def _severity(excess_share: float) -> Severity:
    if excess_share >= CRITICAL_EXCESS:
        return "critical"
    return "warning" if excess_share >= WARNING_EXCESS else "info"


def detect_duplicates(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Test rows equal to a training row on the features and target (exactly, or after rounding
    numbers and normalising text), judged against the rate chance alone gives data like this."""
    columns = list(dict.fromkeys([*declarations.feature_columns(train.columns), declarations.target]))
    if train.height == 0 or test.height == 0:
        return []
    exact_train, exact_test = _exact(train, columns), _exact(test, columns)
    exact_test = exact_test.cast(exact_train.schema, strict=False)
    exact = _match(exact_train, exact_test)
    near = _match(_near(exact_train), _near(exact_test))
    findings: list[Finding] = []
    count = int(exact.matched.sum())
    share, significant = _excess(count, test.height, exact.chance)
    if count and significant:
        rows, total = examples(np.flatnonzero(exact.matched))
        findings.append(
            Finding(
                kind="duplicate_rows",
                severity=_severity(share),
                message=(
                    f"{count} of {test.height} test rows ({count / test.height:.1%}) are exact copies of training rows; "
                    f"chance alone would give about {exact.chance:.1%}"
                ),
                fix="deduplicate before splitting (or split by the key the copies share), so no row is both trained on and tested on",
                columns=tuple(columns),
                test_rows=rows,
                test_row_count=total,
                evidence={"matched_rows": count, "matched_share": round(count / test.height, 4), "chance_share": round(exact.chance, 4), "excess_share": round(share, 4)},
            )
        )
    near_only = near.matched & ~exact.matched
    count = int(near_only.sum())
    chance = max(near.chance - exact.chance, 0.0)
    share, significant = _excess(count, test.height, chance)
    if count and significant:
        rows, total = examples(np.flatnonzero(near_only))
        findings.append(
            Finding(
                kind="near_duplicate_rows",
                severity=_severity(share),
                message=(
                    f"{count} of {test.height} test rows ({count / test.height:.1%}) equal a training row once numbers are "
                    f"rounded to {SIGNIFICANT_DIGITS} significant digits and text is normalised; chance alone would give about {chance:.1%}"
                ),
                fix="look for records re-entered or re-exported with small changes; deduplicate on a normalised key before splitting",
                columns=tuple(columns),
                test_rows=rows,
                test_row_count=total,
                evidence={"matched_rows": count, "matched_share": round(count / test.height, 4), "chance_share": round(chance, 4), "excess_share": round(share, 4), "significant_digits": SIGNIFICANT_DIGITS},
            )
        )
    return findings


__all__ = ["detect_duplicates"]
