"""Versioned features in a real project: spec → train → lineage → reproduce, through the CLI.

The data is generated (seeded) into a temp folder; the store is the project's own SQLite file.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from assay.cli.main import run
from assay.features import parse_definitions
from assay.project import Project, Settings
from assay.project.feature_set import add_features, load_event_snapshots, recorded_definitions
from assay.project.pipeline import load_dataset_frame
from assay.spec import parse_spec
from cli_runner import cli, cli_json

START = datetime(2024, 1, 1)
CUSTOMERS = 30

SPEC = """\
version: 1
project: shop
data:
  source: spine.csv
  target: churned
  time: as_of
  entity: customer_id
  id: row_id
  events:
    payments: events/payments.csv
split:
  strategy: time
model:
  name: churn
  estimator: sklearn.linear_model.LogisticRegression
  params: {max_iter: 500}
leakage:
  entity_may_cross: true
features:
  spend_30d:
    source: payments
    entity: customer_id
    timestamp: occurred_at
    expression: {agg: sum, column: amount, window_days: 30}
    description: Money spent in the 30 days before the row's time.
  payments_ever:
    source: payments
    entity: customer_id
    timestamp: occurred_at
    expression: {agg: count}
"""


def _write_data(folder: Path) -> None:
    """A spine (one row per customer and time) and a payments table; customer 7 is hand-checked."""
    rng = random.Random(7)
    spine = ["row_id,customer_id,as_of,tenure_months,churned"]
    for row in range(240):
        customer = rng.randrange(CUSTOMERS)
        as_of = START + timedelta(days=rng.randrange(40, 220))
        spine.append(f"{row},{customer},{as_of:%Y-%m-%dT%H:%M:%S},{rng.randrange(1, 60)},{rng.randrange(2)}")
    # Customer 7's rows, checked by hand below (as in docs/features.md).
    spine += ["1000,7,2024-03-01T00:00:00,12,0", "1001,7,2024-03-21T00:00:00,12,1", "1002,7,2024-04-02T00:00:00,12,0"]
    payments = ["customer_id,occurred_at,amount"]
    for _ in range(1500):
        customer = rng.choice([c for c in range(CUSTOMERS) if c != 7])
        when = START + timedelta(days=rng.randrange(0, 220), hours=rng.randrange(24))
        payments.append(f"{customer},{when:%Y-%m-%dT%H:%M:%S},{rng.randrange(1, 300)}")
    payments += ["7,2024-03-01T00:00:00,10", "7,2024-03-20T00:00:00,5", "7,2024-04-02T00:00:00,40"]
    (folder / "spine.csv").write_text("\n".join(spine) + "\n", encoding="utf-8")
    (folder / "events").mkdir()
    (folder / "events" / "payments.csv").write_text("\n".join(payments) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("features") / "shop"
    folder.mkdir()
    _write_data(folder)
    (folder / "assay.yaml").write_text(SPEC, encoding="utf-8")
    assert run(["-C", str(folder), "train", "--json"]) == 0
    return folder


def test_features_are_model_inputs_and_recorded_on_the_run(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = cli_json(capsys, "-C", str(trained), "models", "show", "churn:1")
    inputs = [i["name"] for i in model["signature"]["inputs"]]
    assert {"spend_30d", "payments_ever", "tenure_months"} <= set(inputs)
    assert not {"customer_id", "as_of", "row_id", "churned"} & set(inputs)

    record = cli_json(capsys, "-C", str(trained), "runs", "show", model["run_id"])
    listed = cli_json(capsys, "-C", str(trained), "features", "list")
    versions = {f["name"]: f["version"] for f in listed}
    features = record["params"]["features"]
    assert {name: entry["version"] for name, entry in features.items()} == versions
    assert features["spend_30d"]["definition"]["expression"] == {"agg": "sum", "column": "amount", "window_days": 30}
    assert features["spend_30d"]["source"] == "payments"
    snapshot = record["artifacts"]["events:payments"]
    assert record["params"]["events"]["payments"]["snapshot_sha256"] == snapshot
    assert record["params"]["events"]["payments"]["rows"] == 1503
    code, out, _ = cli(capsys, "-C", str(trained), "artifacts", "verify")
    assert code == 0, out


def test_feature_values_match_a_hand_computation(trained: Path) -> None:
    """From the run's own snapshots: strictly before the row's time, within the window."""
    with Project.open(trained, settings=Settings()) as project:
        model = project.resolve_model("churn:1")
        run_record = project.metadata.get_run(model.run_id)
        spine = load_dataset_frame(project, project.metadata.get_dataset(run_record.dataset_version_id))
        events = load_event_snapshots(project, run_record.artifacts)
    frame = add_features(spine, events, recorded_definitions(run_record.params), spine_time="as_of")
    rows = {r["row_id"]: r for r in frame.filter(pl.col("customer_id") == 7).to_dicts()}
    # 03-01: the 03-01 payment is not before 03-01.
    assert (rows[1000]["spend_30d"], rows[1000]["payments_ever"]) == (0, 0)
    # 03-21: 03-01 and 03-20 are in [02-20, 03-21).
    assert (rows[1001]["spend_30d"], rows[1001]["payments_ever"]) == (15, 2)
    # 04-02: 03-01 is out of [03-03, 04-02); the 04-02 payment is not before 04-02.
    assert (rows[1002]["spend_30d"], rows[1002]["payments_ever"]) == (5, 2)
    # Any other row, directly from the CSV.
    payments = pl.read_csv(trained / "events" / "payments.csv", try_parse_dates=True)
    for row in frame.filter(pl.col("customer_id") == 3).head(3).to_dicts():
        before = payments.filter((pl.col("customer_id") == 3) & (pl.col("occurred_at") < row["as_of"]))
        window = before.filter(pl.col("occurred_at") >= row["as_of"] - timedelta(days=30))
        assert row["payments_ever"] == before.height
        assert row["spend_30d"] == window.get_column("amount").sum()


def test_lineage_shows_each_feature_version_and_its_events(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = cli_json(capsys, "-C", str(trained), "lineage", "churn:1")
    snapshot = chain["features"][0]["events_sha256"]
    assert [f["name"] for f in chain["features"]] == ["payments_ever", "spend_30d"]
    assert all(f["source"] == "payments" and f["events_sha256"] == snapshot for f in chain["features"])
    code, out, _ = cli(capsys, "-C", str(trained), "lineage", "churn:1")
    assert code == 0
    for feature in chain["features"]:
        assert f"feature {feature['name']} version {feature['version']}" in out
    assert snapshot in out


def test_reproduce_uses_the_recorded_events_and_names_a_changed_definition(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli_json(capsys, "-C", str(trained), "reproduce", "churn:1")
    assert result["ok"] and result["artifact_identical"], result
    assert result["feature_changes"] == [] and result["data_notes"] == []

    # Same project, later: a definition edited and the event file grown. Reproduction still uses
    # the run's definitions and snapshot, and says what changed.
    later = tmp_path / "later"
    shutil.copytree(trained, later)
    spec = (later / "assay.yaml").read_text(encoding="utf-8")
    (later / "assay.yaml").write_text(spec.replace("window_days: 30", "window_days: 60"), encoding="utf-8")
    with (later / "events" / "payments.csv").open("a", encoding="utf-8") as handle:
        handle.write("7,2024-03-10T00:00:00,1000\n")
    old_version = {f["name"]: f["version"] for f in cli_json(capsys, "-C", str(trained), "features", "list")}
    new_version = {f["name"]: f["version"] for f in cli_json(capsys, "-C", str(later), "features", "list")}
    assert old_version["spend_30d"] != new_version["spend_30d"]
    assert old_version["payments_ever"] == new_version["payments_ever"]

    result = cli_json(capsys, "-C", str(later), "reproduce", "churn:1")
    assert result["ok"] and result["artifact_identical"], result
    assert len(result["feature_changes"]) == 1
    change = result["feature_changes"][0]
    assert f"spend_30d: version {old_version['spend_30d']} -> {new_version['spend_30d']}" in change
    assert "window_days 30 -> 60" in change
    assert any("event table payments" in note and "changed" in note for note in result["data_notes"])
    code, out, _ = cli(capsys, "-C", str(later), "reproduce", "churn:1")
    assert code == 0 and "feature definitions changed since the run" in out and "spend_30d" in out


def test_a_planted_future_event_does_not_change_earlier_rows(tmp_path: Path) -> None:
    """Events at or after a row's time never reach that row's features."""
    _write_data(tmp_path)
    spine = pl.read_csv(tmp_path / "spine.csv", try_parse_dates=True)
    events = pl.read_csv(tmp_path / "events" / "payments.csv", try_parse_dates=True)
    definitions = parse_definitions(
        {n: f.model_dump(exclude_none=True) for n, f in parse_spec(SPEC).features.items()}
    )
    before = add_features(spine, {"payments": events}, definitions, spine_time="as_of")
    row = spine.filter(pl.col("row_id") == 1001).row(0, named=True)
    planted = pl.DataFrame(
        {"customer_id": [7, 7], "occurred_at": [row["as_of"], row["as_of"] + timedelta(seconds=1)], "amount": [999, 999]},
        schema=events.schema,
    )
    after = add_features(spine, {"payments": pl.concat([events, planted])}, definitions, spine_time="as_of")
    columns = ["spend_30d", "payments_ever"]
    index = spine.get_column("row_id").to_list().index(1001)
    assert after.select(columns).row(index) == before.select(columns).row(index) == (15, 2)
    # Later rows of customer 7 do see them: the plant was real.
    later = spine.get_column("row_id").to_list().index(1002)
    assert after.get_column("payments_ever")[later] == before.get_column("payments_ever")[later] + 2


def test_features_from_a_module_beside_the_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_data(tmp_path)
    (tmp_path / "shop_features.py").write_text(
        "from assay.features import Aggregation, FeatureDefinition\n\n"
        "def features():\n"
        "    return [FeatureDefinition(name='max_payment', entity='customer_id', timestamp='occurred_at',\n"
        "                              source='payments', expression=Aggregation(agg='max', column='amount'))]\n",
        encoding="utf-8",
    )
    inline = SPEC.split("features:\n")[0]
    (tmp_path / "assay.yaml").write_text(inline + "features_from: shop_features:features\n", encoding="utf-8")
    listed = cli_json(capsys, "-C", str(tmp_path), "features", "list")
    assert [(f["name"], f["agg"], f["window_days"]) for f in listed] == [("max_payment", "max", None)]


def test_bad_events_are_a_data_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_data(tmp_path)
    (tmp_path / "assay.yaml").write_text(SPEC, encoding="utf-8")
    with (tmp_path / "events" / "payments.csv").open("a", encoding="utf-8") as handle:
        handle.write("7,,12\n")
    code, _, err = cli(capsys, "-C", str(tmp_path), "train")
    assert code == 4, err
    assert "error [data-error]" in err and "occurred_at" in err and "missing" in err
    assert "Traceback" not in err

    (tmp_path / "assay.yaml").write_text(SPEC.replace("column: amount", "column: amount_eur"), encoding="utf-8")
    code, _, err = cli(capsys, "-C", str(tmp_path), "train")
    assert code == 4 and "amount_eur" in err and "spend_30d" in err, err
