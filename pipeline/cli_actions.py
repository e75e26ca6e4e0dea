"""The marketing-action commands: `segment audience` and `segment campaign start|report` (docs/actions.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segment.config import Config
from segment.pipeline.cli_common import DEFAULT_CONFIG, ConfigOpt, QuietOpt, SetOpt, load_cli_config, out, parse_date
from segment.pipeline.progress import stage

DateOpt = Annotated[str | None, typer.Option("--date", help="Score date YYYY-MM-DD (default: the latest scored date).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]


def _actions_data(cfg: Config, quiet: bool, history: bool = True):
    """The clean lines/orders (and contact attributes when exports list them) for audiences and campaigns.

    Without `history` and contact attributes nothing is loaded: the segment table alone answers the filter.
    The lines come from the store when it is on (`prepare_for` on DuckDB: the actions' SQL is DuckDB's).
    """
    from segment.pipeline.engines import prepare_for
    from segment.pipeline.prepare import connect

    if not history and not cfg.output.export_attributes:
        return connect(), None
    with stage("load and clean transactions"):
        data = prepare_for(cfg.model_copy(update={"engine": "duckdb"}), attributes=bool(cfg.output.export_attributes))
    con = data.engine.con
    attributes = None
    if cfg.output.export_attributes:
        names = ", ".join(f'"{a}"' for a in cfg.output.export_attributes)
        attributes = con.execute(f"SELECT customer_id, {names} FROM customer_attributes").df()
    return con, attributes


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
    from segment.pipeline import actions_outputs, audiences, outputs

    cfg = load_cli_config(config, set_, quiet or json_)
    f = audiences.audience_filter(cfg, name)
    when, table = audiences.read_segment_table(Path(cfg.output.root), parse_date(date_, "--date"))
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
    from segment.pipeline import audiences, campaigns

    cfg = load_cli_config(config, set_, quiet or json_)
    campaigns.check_name(name)
    campaigns.check_share(control)
    audiences.audience_filter(cfg, audience_)
    when = parse_date(date_, "--date")
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
    from segment.pipeline import campaign_report, campaigns
    from segment.pipeline.prepare import data_span

    cfg = load_cli_config(config, set_, quiet or json_)
    campaigns.load_definition(Path(cfg.output.root), name)  # fail before loading data when it does not exist
    con, _ = _actions_data(cfg, quiet or json_)
    end = parse_date(date_, "--date") or data_span(con)[1]
    result = campaign_report.report(cfg, con, name, end)
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
