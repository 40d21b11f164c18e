"""The runbooks every alert links: one Markdown page per alert kind, written into the project.

Each page ends with a marker holding the SHA-256 of the text above it. Writing again replaces a
page only while that hash still matches (nobody edited it since Assay wrote it); an edited page,
or one without the marker, is kept unless `force`. So `assay monitor runbooks` is safe to run on
every upgrade: new wording reaches untouched pages, a team's own notes stay.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

KINDS = ("availability", "latency", "freshness", "drift", "quality", "retraining")
_MARKER = re.compile(r"^<!-- assay-runbook kind=(?P<kind>[a-z]+) sha256=(?P<sha>[0-9a-f]{64}) -->\n?\Z", re.MULTILINE)

Outcome = Literal["written", "updated", "unchanged", "kept", "overwritten"]


@dataclass(frozen=True, slots=True)
class RunbookPage:
    kind: str
    path: Path
    outcome: Outcome

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": str(self.path), "outcome": self.outcome}


def runbook_path(folder: str, kind: str) -> str:
    """The link an alert carries for a kind: the page's path relative to the project."""
    return f"{folder.rstrip('/')}/{kind}.md"


def render_runbook(kind: str, *, model: str) -> str:
    """The page for one kind, marker included."""
    body = _PAGES[kind].format(model=model).strip() + "\n"
    body = f"# Runbook: {_TITLES[kind]}\n\n{body}\n{_COMMON.format(model=model).strip()}\n"
    return f"{body}\n<!-- assay-runbook kind={kind} sha256={_sha(body)} -->\n"


def write_runbooks(folder: Path, *, model: str, force: bool = False) -> list[RunbookPage]:
    """Write every kind's page under `folder`; see the module docstring for what is replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for kind in KINDS:
        path = folder / f"{kind}.md"
        text = render_runbook(kind, model=model)
        outcome = _outcome(path, text, force=force)
        if outcome in ("written", "updated", "overwritten"):
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        pages.append(RunbookPage(kind, path, outcome))
    return pages


def is_edited(text: str) -> bool:
    """True when a page has no marker, or its text no longer matches the marker's hash."""
    match = _MARKER.search(text)
    return match is None or _sha(text[: match.start()].removesuffix("\n")) != match.group("sha")


def _outcome(path: Path, text: str, *, force: bool) -> Outcome:
    if not path.exists():
        return "written"
    current = path.read_text(encoding="utf-8")
    if current == text:
        return "unchanged"
    if is_edited(current):
        return "overwritten" if force else "kept"
    return "updated"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_TITLES = {
    "availability": "availability SLO burning",
    "latency": "latency SLO burning",
    "freshness": "predictions are stale",
    "drift": "input drift",
    "quality": "model quality below its objective",
    "retraining": "retraining requested",
}

_COMMON = """
## Roll back

When the current production version is the cause (it started with a deployment, or the previous
version did not have the problem):

```bash
assay deployment {model}                      # what serves now, and the recent changes
assay rollback {model} --reason "SLO alert"   # production back to the version it replaced
```

Running servers switch within `serving.poll_interval_s`, without a restart. End a canary instead
with `assay rollback {model} --canary`. Then confirm the alert resolves:
`assay monitor check --model {model}` (exit code 0).

## After the incident

Write down what happened and why in the audit trail (`--reason`), and edit this page with what
you learned: Assay keeps an edited page when it writes runbooks again.
"""

_PAGES = {
    "availability": """
## What it means

Too many prediction requests were not answered by the model: the fallback answered them (the
model timed out, raised, or was unavailable), or the server answered 5xx. The error budget is
burning faster than the SLO allows over both of the rule's windows.

## Confirm

```bash
assay monitor check --model {model} --json     # the windows, burn rates and counts of the alert
assay deployment {model}                       # did a deployment just change production?
curl -s -H "Authorization: Bearer $ASSAY_READ_KEY" http://SERVER:8000/metrics | grep -E 'assay_(fallbacks|errors|requests)_total'
```

`assay_fallbacks_total` by `reason` says why the fallback answered (`timeout`, `model-error`,
`unavailable`); the server's JSON logs (`request.failed`, `model.*`) name the error.

## Mitigate

- `timeout`: the model is slower than `serving.deadline_ms`; scale out replicas or raise the
  deadline while you find the cause (see the latency runbook).
- `model-error`: a new kind of input breaks the model; roll back (below) if a new version is the cause.
- `unavailable` or 5xx: check the server processes, their memory and the metadata store.
""",
    "latency": """
## What it means

Too many requests took longer than the SLO's `threshold_ms`, over both of the rule's windows.

## Confirm

```bash
assay monitor check --model {model} --json     # p99_ms and the share of slow requests per window
assay deployment {model}                       # a new version can be slower
curl -s -H "Authorization: Bearer $ASSAY_READ_KEY" http://SERVER:8000/metrics | grep assay_request_duration_seconds
```

Compare `assay_batch_duration_seconds` (the model itself) with `assay_request_duration_seconds`
(queueing included): a slow model points at the version, a long queue at capacity.

## Mitigate

- Queueing: add replicas (`assay serve --workers N`, or more pods) or lower traffic.
- A slower model version: roll back (below).
- Thread oversubscription: check `model.threads` in the spec (decision 0004).
""",
    "freshness": """
## What it means

The newest prediction in the prediction log is older than the SLO's `max_age`: the model is not
being called, or its predictions are not being logged.

## Confirm

```bash
assay monitor check --model {model} --json     # newest_age_s per window
ls -lt .assay/predictions/{model}/ | head      # the newest partitions of the log
curl -s http://SERVER:8000/readyz              # is the server up and ready?
```

## Mitigate

- The server is down or not ready: restart it (`assay serve`), check `/readyz`'s reason.
- Traffic stopped upstream: check the calling service.
- The log cannot write: the server logs `prediction log write failed`; free space or fix
  permissions of the log folder (`serving.prediction_log.path`).
""",
    "drift": """
## What it means

The inputs the model sees have drifted from the data it was trained on, over the SLO's window.
Predictions may already be less accurate than the model's evaluation says.

## Confirm

```bash
assay monitor drift --model {model}            # which features drifted, by how much
assay monitor check --model {model} --json     # the drift SLO's windows
```

Check whether the drift is real (a new customer segment, a season) or a data bug (a unit change,
a broken upstream column full of nulls).

## Mitigate

- A data bug: fix it upstream; the drift resolves with the next windows.
- Real change: retrain on recent data (`assay ingest` then `assay train`), evaluate, and promote
  through the usual gates (`assay deploy NAME:VERSION --canary 10`).
""",
    "quality": """
## What it means

The model's metric against delayed ground truth, over the SLO's window, is outside its bound
(for example `roc_auc` below `min`).

## Confirm

```bash
assay monitor quality --model {model}          # the metric per window with its interval and label count
assay monitor check --model {model} --json     # the quality SLO's evidence
assay models show {model}                      # the metric at evaluation time, for comparison
```

Make sure enough labels arrived for the window and that labels are joined correctly
(`assay labels ingest`).

## Mitigate

- Roll back when a recent version is the cause (below).
- Otherwise retrain on recent data (`assay ingest`, `assay train`) and promote through the gates.
""",
    "retraining": """
## What it means

Monitoring asked for a new model (drift over several windows, a quality breach, or the production
model is older than `monitoring.retraining.max_model_age`). A retrained model is only a
candidate: it is never promoted without passing every gate and approval.

## Confirm

```bash
assay audit log                                # the retraining request and its reason
assay models list                              # candidates trained since
```

## Mitigate

```bash
assay ingest && assay train                    # a candidate on the newest data
assay deploy {model}:VERSION --canary 10       # then promote when the canary's guards stay green
```
""",
}


__all__ = ["KINDS", "RunbookPage", "is_edited", "render_runbook", "runbook_path", "write_runbooks"]
