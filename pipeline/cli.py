"""The `segment` command. Exit codes: 0 ok, 1 failure, 2 bad input or config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segment.errors import UserError
from segment.models.threads import configure_openmp
from segment.pipeline.cli_actions import audience, campaign_app
from segment.pipeline.cli_common import (
    DEFAULT_CONFIG,
    ConfigOpt,
    QuietOpt,
    RebuildOpt,
    SetOpt,
    VerboseOpt,
    load_cli_config,
    out,
    parse_date,
)
from segment.pipeline.progress import console as err_console
from segment.pipeline.progress import stage, warn

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Predictive customer segmentation: train, score and inspect.",
)


def _report_table(report, future: int | None = None) -> Table:
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
    if future is not None:
        t.add_row("  lines dated after today", f"{future:,}")
    return t


@app.command()
def validate(
    config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, quiet: QuietOpt = False, rebuild: RebuildOpt = False
) -> None:
    """Load and clean the data, print the data report; write nothing but the store of clean lines."""
    from segment.features.snapshots import plan_snapshots
    from segment.pipeline import checks
    from segment.pipeline.engines import prepare_for

    cfg = load_cli_config(config, set_, quiet, rebuild=rebuild)
    with stage("load and clean transactions"):
        data = prepare_for(cfg)
    report, first, last = data.report, data.first, data.last
    future = checks.future_lines(data.engine, checks.today())
    out.print(_report_table(report, future))
    warnings = checks.history_warnings(first, last, plan_snapshots(first, last, cfg.time))
    for warning in [*warnings, checks.future_warning(future, checks.today())]:
        if warning:
            warn(warning)


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
    from segment.schema import CUTOFF

    cfg = load_cli_config(config, set_, quiet)
    when = parse_date(cutoff, "--cutoff")
    with stage("load and clean transactions"):
        data = prepare_for(cfg)
    with stage(f"features at {when}"):
        df = customer_features(data.engine, [when], horizon_days=cfg.time.horizon_days).drop(columns=CUTOFF)
    atomic_write_parquet(pa.Table.from_pandas(df, preserve_index=False), out_path)
    out.print(f"wrote {len(df):,} customers x {df.shape[1] - 1} features to {out_path}")


@app.command()
def train(
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    rebuild: RebuildOpt = False,
) -> None:
    """Train segments, churn and propensity models; log everything to MLflow; set champions.

    Writes an HTML report to <output.root>/reports/ and logs it to the MLflow run.
    """
    from segment.pipeline.train import train as run_train

    cfg = load_cli_config(config, set_, quiet, verbose, rebuild)
    record = run_train(cfg, config)
    result = record.result
    t = Table(title=f"validation at {', '.join(map(str, result.plan.validation))} (run {record.run_id[:8]})")
    for col in ("target", "model", "ROC-AUC", "PR-AUC", "Brier", "ECE"):
        t.add_column(col, justify="right" if col not in ("target", "model") else "left")
    for target, by_model in result.metrics.items():
        for name, m in by_model.items():
            t.add_row(target, name, f"{m['roc_auc']:.3f}", f"{m['pr_auc']:.3f}", f"{m['brier']:.4f}", f"{m['ece']:.3f}")
    out.print(t)
    out.print(f"k-means: k={result.segments.segmenter.k_}; registered versions: {record.versions}")
    out.print(f"report: {record.report_path}")


@app.command()
def score(
    date_: Annotated[
        str | None, typer.Option("--date", help="Score date YYYY-MM-DD (default: last date in data).")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Score a date more than one horizon past the data or after a year without orders."
        ),
    ] = False,
    rebuild: RebuildOpt = False,
) -> None:
    """Score every customer with the champion models and write the segment table.

    Writes the Parquet partition of the date, the database rows and an HTML summary for marketing.
    """
    from segment.pipeline.score import score as run_score

    cfg = load_cli_config(config, set_, quiet, verbose, rebuild)
    result = run_score(cfg, parse_date(date_, "--date"), force)
    counts = result.table["rfm_segment"].value_counts()
    t = Table(title=f"segment table at {result.score_date}: {result.rows:,} customers")
    t.add_column("rfm segment")
    t.add_column("customers", justify="right")
    for name, n in counts.items():
        t.add_row(str(name), f"{n:,}")
    out.print(t)
    pub = result.published
    out.print(f"parquet: {pub.parquet}\ndatabase: {pub.database_url}\nsummary: {pub.summary}")
    for name, n in pub.actions.items():
        out.print(f"{name}: {n:,}")


@app.command()
def runs(
    config: ConfigOpt = DEFAULT_CONFIG,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many of the latest train runs.")] = 10,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare the latest train runs of the config's experiment side by side, without the browser."""
    import pandas as pd
    from rich import box

    from segment.pipeline import runs as past

    cfg = load_cli_config(config, set_, quiet)
    df = past.latest_train_runs(cfg.tracking, limit)
    if df.empty:
        out.print(f"no train runs in experiment {cfg.tracking.experiment!r} yet: run `segment train` first")
        return
    title = f"latest train runs of experiment {cfg.tracking.experiment!r}"
    if out.width < past.NARROW:
        out.print(title, *past.blocks(df), sep="\n\n")
        return
    wide = out.width >= past.WIDE
    shown = df if wide else past.compact(df)
    t = Table(title=title, box=box.SQUARE if wide else box.SIMPLE_HEAD, pad_edge=wide, collapse_padding=not wide)
    for col in shown.columns:
        numeric = pd.api.types.is_numeric_dtype(shown[col])
        t.add_column(col, justify="right" if numeric else "left", no_wrap=not wide)
    for row in shown.itertuples(index=False):
        t.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    out.print(t)


@app.command()
def ui(
    config: ConfigOpt = DEFAULT_CONFIG,
    port: Annotated[int, typer.Option("--port", help="Port of the MLflow UI on 127.0.0.1.")] = 5000,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Open the MLflow UI on the config's tracking store and artifact folder."""
    import os

    from segment.pipeline import tracking

    cfg = load_cli_config(config, set_, quiet)
    uri = tracking.tracking_uri(cfg.tracking)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--default-artifact-root", cfg.tracking.artifact_root, "--host", "127.0.0.1", "--port", str(port)]
    err_console.print(f"MLflow UI on http://127.0.0.1:{port} for {uri} (Ctrl-C to stop)")
    os.execv(sys.executable, command)


app.command()(audience)
app.add_typer(campaign_app, name="campaign")


def main() -> None:
    """Entry point: user errors print one message and exit 2; bugs exit 1."""
    configure_openmp()  # before any command imports lightgbm (models/threads.py says why)
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
