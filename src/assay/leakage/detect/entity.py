"""The same entity (customer, account, patient) in train and test when it must not cross."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.leakage.detect.finding import (
    Declarations,
    Finding,
    example_entities,
    examples,
)


def detect_entity_overlap(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Entities found in both train and test. Critical unless `entity_may_cross` says the model is
    meant to score entities it has seen (then it is reported as info)."""
    entity = declarations.entity
    if entity is None:
        return []
    train_keys = train.get_column(entity).cast(pl.String).drop_nulls()
    test_keys = test.get_column(entity).cast(pl.String)
    shared = test_keys.is_in(train_keys.implode()).fill_null(False).to_numpy()
    if not shared.any():
        return []
    rows, row_count = examples(np.flatnonzero(shared))
    keys, key_count = example_entities(test_keys.filter(pl.Series(shared)).to_list())
    test_entities = test_keys.drop_nulls().n_unique()
    evidence: dict[str, float | int | str] = {
        "shared_entities": key_count,
        "test_entities": test_entities,
        "shared_test_rows": row_count,
        "shared_test_row_share": round(row_count / test.height, 4),
    }
    if declarations.entity_may_cross:
        return [
            Finding(
                kind="entity_overlap",
                severity="info",
                message=f"{key_count} of {test_entities} test {entity} values also appear in train (declared as allowed)",
                fix="nothing to do if the model will score entities it was trained on; otherwise split by entity",
                columns=(entity,),
                test_rows=rows,
                test_row_count=row_count,
                entities=keys,
                entity_count=key_count,
                evidence=evidence,
            )
        ]
    return [
        Finding(
            kind="entity_overlap",
            severity="critical",
            message=(
                f"{key_count} of {test_entities} test {entity} values ({row_count} test rows) also appear in train: "
                "the model is tested on entities it has already seen"
            ),
            fix=f"split by {entity} (split.strategy: group) so each {entity} is in one split only, or declare that entities may cross",
            columns=(entity,),
            test_rows=rows,
            test_row_count=row_count,
            entities=keys,
            entity_count=key_count,
            evidence=evidence,
        )
    ]


__all__ = ["detect_entity_overlap"]
