"""The `assay` command: the composition root of the CLI. Parse, call the library, render."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import typer

from assay import __version__
from assay.cli import checks, data, db, features, leakage, lifecycle, monitoring, readiness, records, scoring, serving
from assay.cli import approvals, retention
from assay.cli.doctor import doctor_command
from assay.cli import monitor_drift  # noqa: F401 - registers `assay monitor drift` on monitor_app
from assay.cli import monitor_quality  # noqa: F401 - registers `assay labels ingest`, `assay monitor quality`
from assay.cli import monitor_slo  # noqa: F401 - registers `assay monitor check` and `runbooks` on monitor_app
from assay.cli import audit  # noqa: F401 - registers `assay audit log` and `verify` on records.audit
from assay.cli.context import state
from assay.cli.errors import EXIT_INTERNAL, EXIT_USAGE, exit_code_for, format_error
from assay.cli.output import gates_table, stderr
from assay.errors import AssayError, GatesFailedError
from assay.security.redaction import install_logging_redaction, install_structlog_redaction, redact_text

# Typer may bundle its own copy of Click; take the exception classes from the one it really uses.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

app = typer.Typer(
    name="assay",
    help=(
        "Assay takes tabular data to a registered, reproducible model, and keeps the evidence.\n\n"
        "Start with `assay demo`, or `assay init --data FILE --target COLUMN` then `assay run`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assay {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    project: Path = typer.Option(Path("."), "--project", "-C", help="Project folder (where assay.yaml is).", show_default=True),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    current = state(ctx)
    current.project_dir = project
    current.debug = debug


lifecycle.register(app)
serving.register(app)
app.command("score")(scoring.score_command)
app.command("lineage")(records.lineage_command)
app.command("reproduce")(checks.reproduce_command)
app.command("gc")(retention.gc_command)
app.command("erase")(retention.erase_command)
app.command("readiness")(readiness.readiness_command)
app.command("doctor")(doctor_command)
approvals.register(records.models)
app.add_typer(records.models, name="models")
app.add_typer(records.datasets, name="datasets")
app.add_typer(records.runs, name="runs")
app.add_typer(records.audit, name="audit")
app.add_typer(checks.spec_app, name="spec")
app.add_typer(checks.artifacts_app, name="artifacts")
app.add_typer(db.db_app, name="db")
app.add_typer(leakage.leakage_app, name="leakage")
app.add_typer(data.data_app, name="data")
app.add_typer(features.features_app, name="features")
app.add_typer(monitoring.monitor_app, name="monitor")
app.add_typer(monitoring.labels_app, name="labels")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (errors are printed, never raised)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    install_logging_redaction()  # a secret resolved by any command never reaches a log line
    install_structlog_redaction()
    try:
        result = app(args=args, prog_name="assay", standalone_mode=False)
    except typer.Abort:
        stderr().print("aborted")
        return 130
    except _CLICK_ERROR as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, _USAGE_ERROR) else int(exc.exit_code)
    except AssayError as exc:
        if debug:
            _print_traceback()
        if isinstance(exc, GatesFailedError) and exc.gates:
            stderr().print(gates_table(exc.gates, title=f"evaluation gates of {exc.model_ref}"))
        stderr().print(format_error(exc), markup=False)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        stderr().print("interrupted")
        return 130
    except Exception as exc:  # process boundary: report, never a bare traceback
        if debug:
            _print_traceback()
        stderr().print(
            f"internal error: {type(exc).__name__}: {redact_text(str(exc))}\n  hint: this is a bug in assay; "
            "run again with --debug and report the traceback",
            markup=False,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def _print_traceback() -> None:
    sys.stderr.write(redact_text(traceback.format_exc()))


def main() -> None:
    sys.exit(run())


__all__ = ["app", "main", "run"]
