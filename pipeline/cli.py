"""The `segment` command. Exit codes: 0 ok, 1 failure, 2 bad input or config."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segment.config import Config
from segment.errors import UserError
from segment.models.threads import configure_openmp
from segment.pipeline.config_file import load_config
from segment.pipeline.progress import console as err_console
from segment.pipeline.progress import set_quiet, stage, warn

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
    from segment.pipeline import tracking  # imports mlflow, which sets its loggers up: then quieten them

    tracking.configure_logging(verbose)
    return load_config(config, overrides or [])


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
def validate(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, quiet: QuietOpt = False) -> None:
    """Load and clean the data, print the data report; write nothing."""
    from segment.features.snapshots import plan_snapshots
    from segment.pipeline import checks
    from segment.pipeline.engines import prepare_for

    cfg = _load(config, set_, quiet)
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

    cfg = _load(config, set_, quiet)
    when = _date(cutoff, "--cutoff")
    with stage("load and clean transactions"):
        data = prepare_for(cfg)
    with stage(f"features at {when}"):
        df = customer_features(data.engine, [when], horizon_days=cfg.time.horizon_days).drop(columns=CUTOFF)
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
) -> None:
    """Score every customer with the champion models and write the segment table.

    Writes the Parquet partition of the date, the database rows and an HTML summary for marketing.
    """
    from segment.pipeline.score import score as run_score

    cfg = _load(config, set_, quiet, verbose)
    result = run_score(cfg, _date(date_, "--date"), force)
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

    cfg = _load(config, set_, quiet)
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

    cfg = _load(config, set_, quiet)
    uri = tracking.tracking_uri(cfg.tracking)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--default-artifact-root", cfg.tracking.artifact_root, "--host", "127.0.0.1", "--port", str(port)]
    err_console.print(f"MLflow UI on http://127.0.0.1:{port} for {uri} (Ctrl-C to stop)")
    os.execv(sys.executable, command)


DateOpt = Annotated[str | None, typer.Option("--date", help="Score date YYYY-MM-DD (default: the latest scored date).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]


def _actions_data(cfg: Config, quiet: bool, history: bool = True):
    """The clean lines/orders (and contact attributes when exports list them) for audiences and campaigns.

    Without `history` and contact attributes nothing is loaded: the segment table alone answers the filter.
    """
    from segment.pipeline.prepare import connect, prepare

    con = connect()
    if not history and not cfg.output.export_attributes:
        return con, None
    with stage("load and clean transactions"):
        prepare(con, cfg.data, attributes=bool(cfg.output.export_attributes))
    attributes = None
    if cfg.output.export_attributes:
        names = ", ".join(f'"{a}"' for a in cfg.output.export_attributes)
        attributes = con.execute(f"SELECT customer_id, {names} FROM customer_attributes").df()
    return con, attributes


@app.command()
def audience(
    name: Annotated[str, typer.Option("--name", "-n", help="Audience name from the config's `audiences:`.")],
    date_: DateOpt = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also print how many customers each condition removed.")
    ] = False,
    json_: JsonOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Select an audience from the segment table of a score date; write its CSV and Parquet; print count and path."""
    import json

    from segment.pipeline import actions_outputs, audiences, outputs

    cfg = _load(config, set_, quiet or json_)
    f = audiences.audience_filter(cfg, name)
    when, table = audiences.read_segment_table(Path(cfg.output.root), _date(date_, "--date"))
    con, attributes = _actions_data(cfg, quiet or json_, history=audiences.needs_history(f))
    chosen = audiences.select(con, table, f, when, name)
    rows = audiences.export_frame(chosen.members, attributes)
    root = Path(cfg.output.root)
    with outputs.score_lock(root, when, cfg.scoring.lock_timeout_seconds):
        path = actions_outputs.write_audience(rows, root, when, name)
    if json_:
        obj = {"audience": name, "score_date": str(when), "customers": len(rows), "path": str(path)}
        if explain:
            obj["explain"] = chosen.explain.to_dict(orient="records")
        out.print(json.dumps(obj), markup=False)
        return
    if explain:
        t = Table(title=f"audience {name} at {when}: what each condition removed")
        for col in ("condition", "customers left", "removed (in order)", "removed alone"):
            t.add_column(col, justify="left" if col == "condition" else "right")
        for r in chosen.explain.itertuples(index=False):
            t.add_row(escape(r.condition), f"{r.customers_left:,}", f"{r.removed:,}", f"{r.removed_alone:,}")
        out.print(t)
    out.print(f"audience {name} at {when}: {len(rows):,} customers\n{path}")


campaign_app = typer.Typer(
    no_args_is_help=True, help="Campaigns with a control group: start one on an audience, then report on it."
)
app.add_typer(campaign_app, name="campaign")


@campaign_app.command("start")
def campaign_start(
    name: Annotated[str, typer.Option("--name", "-n", help="Campaign name (letters, digits, _ or -).")],
    audience_: Annotated[str, typer.Option("--audience", "-a", help="Audience name from the config.")],
    control: Annotated[
        float, typer.Option("--control", help="Share of the audience held out as control, in (0, 1).")
    ] = 0.2,
    date_: DateOpt = None,
    json_: JsonOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Assign the audience to test/control, record the campaign, export the test arm as the list to contact.

    Re-running with the identical definition changes nothing; a different definition under the same name fails.
    """
    import json

    from segment.pipeline import audiences, campaigns

    cfg = _load(config, set_, quiet or json_)
    campaigns.check_name(name)
    campaigns.check_share(control)
    audiences.audience_filter(cfg, audience_)
    when = _date(date_, "--date")
    folder = campaigns.campaign_folder(Path(cfg.output.root), name)
    con = attributes = None
    if not (folder / "campaign.json").exists():
        needs = audiences.needs_history(cfg.audiences[audience_])
        con, attributes = _actions_data(cfg, quiet or json_, history=needs)
    started = campaigns.start(cfg, con, name, audience_, when, control, attributes)
    if json_:
        out.print(json.dumps(started.to_dict()), markup=False)
        return
    d, arms = started.definition, started.arms
    verb = "already recorded (identical definition): nothing changed" if started.existed else "recorded"
    out.print(
        f"campaign {name} {verb}: audience {d['audience']} at {d['start_date']}, control share {d['control_share']}"
    )
    out.print(f"arms: test {arms['test']:,}, control {arms['control']:,}")
    out.print(
        f"minimum detectable effect on purchase rate (80% power, 5% level, two-sided): "
        f"{100 * started.mde:.1f} percentage points, on a base rate of {100 * started.base_rate:.1f}% "
        f"(the members' mean predicted purchase probability over {cfg.time.horizon_days} days)"
    )
    out.print(f"members: {started.members}\ncontact list (test arm): {started.contact}")


@campaign_app.command("report")
def campaign_report(
    name: Annotated[str, typer.Option("--name", "-n", help="Campaign name.")],
    date_: Annotated[
        str | None,
        typer.Option("--date", help="Count purchases up to this day YYYY-MM-DD (default: last date in the data)."),
    ] = None,
    json_: JsonOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Per arm: members, buyers, purchase rate, orders and revenue per member; uplift with 95% CI; HTML page."""
    import json

    from segment.pipeline import campaigns
    from segment.pipeline.prepare import data_span

    cfg = _load(config, set_, quiet or json_)
    campaigns.load_definition(Path(cfg.output.root), name)  # fail before loading data when it does not exist
    con, _ = _actions_data(cfg, quiet or json_)
    end = _date(date_, "--date") or data_span(con)[1]
    result = campaigns.report(cfg, con, name, end)
    if json_:
        out.print(json.dumps(result), markup=False)
        return
    t = Table(title=f"campaign {name}: purchases in ({result['start_date']}, {result['end_date']}]")
    for col in ("arm", "members", "buyers", "purchase rate", "orders/member", "revenue/member"):
        t.add_column(col, justify="left" if col == "arm" else "right")
    for arm, s in result["arms"].items():
        t.add_row(
            arm,
            f"{s['members']:,}",
            f"{s['buyers']:,}",
            f"{s['purchase_rate']:.2%}",
            f"{s['orders_per_member']:.3f}",
            f"{s['revenue_per_member']:.2f}",
        )
    out.print(t)
    u = Table(title="uplift, test - control (95% CI)")
    for col in ("metric", "diff", "CI low", "CI high", "p-value"):
        u.add_column(col, justify="left" if col == "metric" else "right")
    for metric, e in result["uplift"].items():
        cells = [f"{e[k]:.4f}" if e[k] is not None else "n/a" for k in ("diff", "ci_low", "ci_high", "p_value")]
        u.add_row(metric, *cells)
    out.print(u)
    out.print(f"report: {result['html']}")


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
