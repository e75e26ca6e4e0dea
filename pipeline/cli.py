"""The `segment` command. Exit codes: 0 ok, 1 failure, 2 bad input or config."""

from __future__ import annotations

import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from segment.pipeline.config_file import load_config
from segment.pipeline.progress import console as err_console
from segment.pipeline.progress import set_quiet, stage

from segment.config import Config
from segment.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Predictive customer segmentation: train, score and inspect.",
)
out = Console(highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config value: key.sub=value (repeatable).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also show MLflow's and alembic's own log lines.")]
DEFAULT_CONFIG = Path("configs/default.yaml")


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form", param_hint=option) from None


def _load(config: Path, overrides: list[str] | None, quiet: bool, verbose: bool = False) -> Config:
    set_quiet(quiet)
    import mlflow  # noqa: F401 - mlflow sets its loggers up on import: import first, then quieten them

    level = logging.INFO if verbose else logging.WARNING  # MLflow's INFO lines drown the stage lines
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return load_config(config, overrides or [])


def _report_table(report) -> Table:
    t = Table(title="data report", show_header=True)
    t.add_column("step")
    t.add_column("rows", justify="right")
    t.add_row("rows in", f"{report.rows_in:,}")
    for rule, n in report.dropped.items():
        t.add_row(f"  dropped: {rule}", f"{n:,}")
    t.add_row("rows out", f"{report.rows_out:,}")
    t.add_row("  of which return lines", f"{report.return_lines:,}")
    t.add_row("customers", f"{report.customers:,}")
    t.add_row("orders", f"{report.orders:,}")
    t.add_row("  customers with one order", f"{report.customers_one_order:,}")
    t.add_row("  customers with negative net spend", f"{report.customers_net_negative:,}")
    t.add_row("first / last", f"{report.first_timestamp} / {report.last_timestamp}")
    return t


@app.command()
def validate(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, quiet: QuietOpt = False) -> None:
    """Load and clean the data, print the data report; write nothing."""
    from segment.pipeline.engines import prepare_for

    cfg = _load(config, set_, quiet)
    with stage("load and clean transactions"):
        _, report = prepare_for(cfg)
    out.print(_report_table(report))


@app.command()
def features(
    cutoff: Annotated[str, typer.Option(help="Cutoff date YYYY-MM-DD (its whole day is included).")],
    out_path: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write the customer feature table at one cutoff: one row per customer."""
    import pyarrow as pa
    from segment.features.customer import customer_features
    from segment.pipeline.engines import prepare_for
    from segment.pipeline.outputs import atomic_write_parquet

    cfg = _load(config, set_, quiet)
    when = _date(cutoff, "--cutoff")
    with stage("load and clean transactions"):
        con, _ = prepare_for(cfg)
    with stage(f"features at {when}"):
        df = customer_features(con, [when], horizon_days=cfg.time.horizon_days).drop(columns="cutoff")
    atomic_write_parquet(pa.Table.from_pandas(df, preserve_index=False), out_path)
    out.print(f"wrote {len(df):,} customers x {df.shape[1] - 1} features to {out_path}")


@app.command()
def train(
    config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, quiet: QuietOpt = False, verbose: VerboseOpt = False
) -> None:
    """Train segments, churn and propensity models; log everything to MLflow; set champions.

    Writes an HTML report to <output.root>/reports/ and logs it to the MLflow run.
    """
    from segment.pipeline.train import train as run_train

    cfg = _load(config, set_, quiet, verbose)
    result = run_train(cfg, config)
    t = Table(title=f"validation at {', '.join(map(str, result.plan.validation))} (run {result.run_id[:8]})")
    for col in ("target", "model", "ROC-AUC", "PR-AUC", "Brier", "ECE"):
        t.add_column(col, justify="right" if col not in ("target", "model") else "left")
    for target, by_model in result.metrics.items():
        for name, m in by_model.items():
            t.add_row(target, name, f"{m['roc_auc']:.3f}", f"{m['pr_auc']:.3f}", f"{m['brier']:.4f}", f"{m['ece']:.3f}")
    out.print(t)
    out.print(f"k-means: k={result.k}; registered versions: {result.versions}")
    out.print(f"report: {result.report_path}")


@app.command()
def score(
    date_: Annotated[
        str | None, typer.Option("--date", help="Score date YYYY-MM-DD (default: last date in data).")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score every customer with the champion models and write the segment table.

    Writes the Parquet partition of the date, the database rows and an HTML summary for marketing.
    """
    from segment.pipeline.score import score as run_score

    cfg = _load(config, set_, quiet, verbose)
    result = run_score(cfg, _date(date_, "--date"))
    counts = result.table["rfm_segment"].value_counts()
    t = Table(title=f"segment table at {result.score_date}: {result.rows:,} customers")
    t.add_column("rfm segment")
    t.add_column("customers", justify="right")
    for name, n in counts.items():
        t.add_row(str(name), f"{n:,}")
    out.print(t)
    out.print(f"parquet: {result.parquet}\ndatabase: {result.database_url}\nsummary: {result.summary}")


@app.command()
def runs(
    config: ConfigOpt = DEFAULT_CONFIG,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many of the latest train runs.")] = 10,
    set_: SetOpt = None,
) -> None:
    """Compare the latest train runs of the config's experiment side by side, without the browser."""
    from segment.pipeline.runs import latest_train_runs

    cfg = _load(config, set_, quiet=True)
    df = latest_train_runs(cfg.tracking, limit)
    if df.empty:
        out.print(f"no train runs in experiment {cfg.tracking.experiment!r} yet: run `segment train` first")
        return
    t = Table(title=f"latest train runs of experiment {cfg.tracking.experiment!r}")
    for col in df.columns:
        t.add_column(col, justify="left" if df[col].dtype == object else "right")
    for row in df.itertuples(index=False):
        t.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    out.print(t)


def main() -> None:
    """Entry point: user errors print one message and exit 2; bugs exit 1."""
    try:
        code = app(standalone_mode=False)
    except UserError as e:
        err_console.print("[red]error:[/red] " + escape(str(e)), soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as e:  # usage errors: bad option, bad value (typer vendors click's exceptions)
        e.show()
        sys.exit(getattr(e, "exit_code", 2) or 2)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, no traceback
        err_console.print(f"[red]failed:[/red] {escape(type(e).__name__)}: {escape(str(e))}", soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
