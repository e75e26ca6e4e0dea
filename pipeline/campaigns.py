"""Campaigns with a control group: record who is in which arm at the start, then report test against control.

A campaign lives in `<output.root>/campaigns/<name>/` (campaign.json: the definition; members.parquet:
one row per member with its arm and segments at the start; contact.csv: the test arm, the list to
contact; report-<D>.html/json: the reports) and in the database tables `campaigns.table` and
`campaigns.members_table`. Starting writes the folder in a staging place and renames it inside the open
database transaction, so either both records exist or neither does.

The report counts, per member, purchase orders (gross > 0) placed in (start date, D]; revenue is their
gross value (before later returns). The statistics are in `segment.models.uplift`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from segment.config import AUDIENCE_NAME, Config
from segment.errors import InputError, UserError
from segment.models import uplift
from segment.models.uplift import CONTROL, TEST
from segment.pipeline import audiences, outputs, plots
from segment.pipeline.htmlpage import Section, render
from segment.schema import CUSTOMER_ID, SCHEME_COLUMNS

MEMBER_COLUMNS = (CUSTOMER_ID, "arm", *SCHEME_COLUMNS, "churn_probability", "purchase_probability", "propensity_decile")


@dataclass
class Started:
    """What `start` recorded (or found already recorded)."""

    definition: dict
    folder: Path
    members: Path
    contact: Path
    arms: dict[str, int]
    base_rate: float
    mde: float
    existed: bool

    def to_dict(self) -> dict:
        """The `--json` object of `segment campaign start`."""
        return {
            "campaign": self.definition["name"],
            "audience": self.definition["audience"],
            "start_date": self.definition["start_date"],
            "control_share": self.definition["control_share"],
            "members": str(self.members),
            "contact_list": str(self.contact),
            "arms": self.arms,
            "base_rate": self.base_rate,
            "min_detectable_effect": self.mde,
            "already_recorded": self.existed,
        }


def check_name(name: str) -> None:
    """Campaign names name a folder: letters, digits, `_` and `-` only."""
    if not re.fullmatch(AUDIENCE_NAME, name):
        raise UserError(f"campaign name {name!r} must be 1-64 letters, digits, _ or - (it names a folder)")


def check_share(control: float) -> None:
    """The control share must leave both arms a chance of members."""
    if not 0 < control < 1:
        raise UserError(f"--control {control} is outside (0, 1): the share of the audience held out as control")


def campaign_folder(root: Path, name: str) -> Path:
    """campaigns/<name> under the output root."""
    check_name(name)
    return outputs.inside(root, "campaigns", name)


def load_definition(root: Path, name: str) -> dict:
    """The recorded definition, or a clear error naming the campaigns that exist."""
    path = campaign_folder(root, name) / "campaign.json"
    if not path.exists():
        known = sorted(p.parent.name for p in (Path(root) / "campaigns").glob("*/campaign.json"))
        raise InputError(f"campaign {name!r} not found under {root} (recorded: {', '.join(known) or 'none'})")
    return json.loads(path.read_text())


def definition(cfg: Config, name: str, audience: str, when: date, control: float) -> dict:
    """What identifies a campaign: a re-start with the same definition is a no-op, another one an error."""
    f = audiences.audience_filter(cfg, audience)
    return {
        "name": name,
        "audience": audience,
        "filter": f.model_dump(mode="json", by_alias=True, exclude_none=True),
        "start_date": when.isoformat(),
        "control_share": float(control),
    }


def members_frame(name: str, table: pd.DataFrame, control: float) -> pd.DataFrame:
    """One row per audience member: id, arm (by hash of campaign and customer), segments at the start."""
    out = table[[c for c in MEMBER_COLUMNS if c in table.columns and c != "arm"]].copy()
    out.insert(1, "arm", uplift.assign_arms(name, out[CUSTOMER_ID].astype(str), control))
    return out.sort_values(CUSTOMER_ID).reset_index(drop=True)


def _mde(members: pd.DataFrame) -> tuple[dict[str, int], float, float]:
    arms = {arm: int((members["arm"] == arm).sum()) for arm in uplift.ARMS}
    base = float(members["purchase_probability"].mean()) if "purchase_probability" in members else 0.5
    return arms, base, uplift.min_detectable_effect(arms[TEST], arms[CONTROL], base)


def start(
    cfg: Config,
    con: duckdb.DuckDBPyConnection | None,
    name: str,
    audience: str,
    when: date | None,
    control: float,
    attributes: pd.DataFrame | None = None,
) -> Started:
    """Assign the audience at `when` to arms and record the campaign; identical re-start: a no-op.

    `con` holds the clean `lines`/`orders` (needed by history filters); `when` defaults to the recorded
    start date of an existing campaign, else the latest score date.
    """
    check_name(name)
    check_share(control)
    root = Path(cfg.output.root)
    final = campaign_folder(root, name)
    existing = json.loads((final / "campaign.json").read_text()) if (final / "campaign.json").exists() else None
    if when is None and existing:
        when = date.fromisoformat(existing["start_date"])
    when, table = audiences.read_segment_table(root, when)
    wanted = definition(cfg, name, audience, when, control)
    if existing is not None:
        recorded = {k: existing[k] for k in wanted}
        if recorded != wanted:
            diff = [k for k in wanted if recorded[k] != wanted[k]]
            raise UserError(
                f"campaign {name!r} already exists with another definition (differs in: {', '.join(diff)}); "
                "choose a new name"
            )
        members = pd.read_parquet(final / "members.parquet")
        arms, base, mde = _mde(members)
        return Started(existing, final, final / "members.parquet", final / "contact.csv", arms, base, mde, True)
    if con is None:
        raise UserError("internal: the data must be loaded to start a new campaign")
    chosen = audiences.select(con, table, cfg.audiences[audience], when, audience).members
    if chosen.empty:
        raise InputError(f"audience {audience!r} has no members at {when}: campaign {name!r} was not recorded")
    members = members_frame(name, chosen, control)
    arms, base, mde = _mde(members)
    record = wanted | {
        "members": len(members),
        "arms": arms,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    contact = audiences.export_frame(chosen[members["arm"].eq(TEST).to_numpy()], attributes)
    _record(cfg, final, record, members, contact)
    return Started(record, final, final / "members.parquet", final / "contact.csv", arms, base, mde, False)


def _record(cfg: Config, final: Path, record: dict, members: pd.DataFrame, contact: pd.DataFrame) -> None:
    """Stage the folder, insert the database rows, rename the folder in, then commit: all or nothing."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".staging-{final.name}-{uuid.uuid4().hex}"
    staging.mkdir()
    url = cfg.output.database_url or f"sqlite:///{Path(cfg.output.root) / 'segments.db'}"
    engine = sa.create_engine(url)
    renamed = False
    try:
        (staging / "campaign.json").write_text(json.dumps(record, indent=2))
        pq.write_table(pa.Table.from_pandas(members, preserve_index=False), staging / "members.parquet")
        contact.to_csv(staging / "contact.csv", index=False)
        row = {k: record[k] for k in ("name", "audience", "start_date", "control_share", "members", "recorded_at")}
        row |= {
            "definition": json.dumps(record["filter"], sort_keys=True),
            **{f"{a}_members": n for a, n in record["arms"].items()},
        }
        schema = cfg.output.db_schema
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(cfg.campaigns.table, schema=schema):
                t = sa.Table(cfg.campaigns.table, sa.MetaData(schema=schema), autoload_with=conn)
                if conn.execute(sa.select(sa.func.count()).where(t.c.name == record["name"])).scalar():
                    raise UserError(
                        f"campaign {record['name']!r} is in table {cfg.campaigns.table!r} but its folder {final} is "
                        "missing; restore the folder or choose a new name"
                    )
            pd.DataFrame([row]).to_sql(cfg.campaigns.table, conn, schema=schema, if_exists="append", index=False)
            members.assign(campaign=record["name"], start_date=record["start_date"]).to_sql(
                cfg.campaigns.members_table, conn, schema=schema, if_exists="append", index=False, chunksize=10_000
            )
            if final.exists():
                raise UserError(f"campaign {record['name']!r} was recorded by another run meanwhile")
            staging.rename(final)
            renamed = True
    except BaseException:
        if renamed:  # the commit failed after the rename: take the folder back out
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        engine.dispose()


# ---------------------------------------------------------------- the report


def outcomes(
    con: duckdb.DuckDBPyConnection, members: pd.DataFrame, start_date: date, end: date, orders: str = "orders"
) -> pd.DataFrame:
    """Members with their purchase orders in (start, end]: `orders`, `revenue` (gross) and `first_day`."""
    con.register("campaign_members_now", members[[CUSTOMER_ID]].astype(str))
    try:
        got = con.execute(
            f"""SELECT o.customer_id, count(*) AS orders, sum(o.gross) AS revenue, CAST(min(o.ts) AS DATE) AS first_day
            FROM {orders} o SEMI JOIN campaign_members_now m ON o.customer_id = m.customer_id
            WHERE o.gross > 0 AND o.ts >= CAST(? AS DATE) + INTERVAL 1 DAY AND o.ts < CAST(? AS DATE) + INTERVAL 1 DAY
            GROUP BY o.customer_id""",
            [start_date, end],
        ).df()
    finally:
        con.unregister("campaign_members_now")
    out = members.merge(got.astype({CUSTOMER_ID: str}), on=CUSTOMER_ID, how="left")
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    out["first_day"] = pd.to_datetime(out["first_day"]).dt.date
    return out


def arm_stats(df: pd.DataFrame) -> dict:
    """members, buyers, purchase_rate, orders_per_member, revenue_per_member of one arm."""
    n = len(df)
    buyers = int((df["orders"] > 0).sum())
    return {
        "members": n,
        "buyers": buyers,
        "purchase_rate": buyers / n if n else float("nan"),
        "orders_per_member": float(df["orders"].sum() / n) if n else float("nan"),
        "revenue_per_member": float(df["revenue"].sum() / n) if n else float("nan"),
    }


def compare(df: pd.DataFrame) -> dict:
    """Per arm statistics and the uplift of test over control (purchase rate; revenue per member)."""
    t, c = df[df["arm"] == TEST], df[df["arm"] == CONTROL]
    a, b = arm_stats(t), arm_stats(c)
    return {
        "arms": {TEST: a, CONTROL: b},
        "uplift": {
            "purchase_rate": uplift.diff_proportions(a["buyers"], a["members"], b["buyers"], b["members"]).to_dict(),
            "revenue_per_member": uplift.welch(t["revenue"].to_numpy(), c["revenue"].to_numpy()).to_dict(),
        },
    }


def by_segment(df: pd.DataFrame) -> dict[str, list[dict]]:
    """The comparison within each segment at the start, per scheme, with Holm-adjusted p-values per scheme."""
    out = {}
    for scheme in SCHEME_COLUMNS:
        if scheme not in df:
            continue
        rows = [{"segment": str(seg)} | compare(part) for seg, part in df.groupby(scheme, sort=True)]
        for metric in ("purchase_rate", "revenue_per_member"):
            adjusted = uplift.holm([r["uplift"][metric]["p_value"] for r in rows])
            for r, p in zip(rows, adjusted, strict=True):
                r["uplift"][metric]["p_holm"] = float(p)
        out[scheme] = rows
    return out


def cumulative(df: pd.DataFrame, start_date: date, end: date) -> pd.DataFrame:
    """Share of each arm's members who bought by each day in (start, end]."""
    days = pd.date_range(pd.Timestamp(start_date) + pd.Timedelta(days=1), pd.Timestamp(end), freq="D").date
    out = {"day": days}
    for arm in uplift.ARMS:
        part = df[df["arm"] == arm]
        first = pd.Series(part["first_day"].dropna().to_numpy())
        counts = first.value_counts().reindex(days, fill_value=0).cumsum().to_numpy()
        out[arm] = counts / max(len(part), 1)
    return pd.DataFrame(out)


def _clean(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _flat(rows: list[dict]) -> pd.DataFrame:
    out = []
    for r in rows:
        pr, rv = r["uplift"]["purchase_rate"], r["uplift"]["revenue_per_member"]
        out.append(
            {
                "segment": r["segment"],
                "test members": r["arms"][TEST]["members"],
                "control members": r["arms"][CONTROL]["members"],
                "test rate": r["arms"][TEST]["purchase_rate"],
                "control rate": r["arms"][CONTROL]["purchase_rate"],
                "rate uplift": pr["diff"],
                "95% CI": f"[{pr['ci_low']:.3f}, {pr['ci_high']:.3f}]",
                "p": pr["p_value"],
                "p (Holm)": pr.get("p_holm"),
                "revenue/member uplift": rv["diff"],
                "revenue p (Holm)": rv.get("p_holm"),
            }
        )
    return pd.DataFrame(out)


def report_html(result: dict, curve: pd.DataFrame) -> str:
    """The campaign report page: arms, uplift with intervals, segments at start, cumulative purchase rate."""
    head = Section("Test against control")
    head.notes.append(
        f"Members buy when they place a purchase order in ({result['start_date']}, {result['end_date']}]; "
        "revenue is the gross value of those orders. Intervals are 95 %: purchase rate by the difference of "
        "two proportions (normal approximation), revenue per member by Welch's t."
    )
    head.table(pd.DataFrame([{"arm": a} | s for a, s in result["arms"].items()]))
    head.table(
        pd.DataFrame([{"metric": m} | e for m, e in result["uplift"].items()]),
        caption="uplift (test - control)",
        floats=4,
    )
    fig = plots.cumulative_rate(curve)
    head.figure(fig, "cumulative purchase rate by arm")
    plots.plt.close(fig)  # pyplot keeps every figure until closed
    seg = Section("By segment at the start")
    seg.notes.append("Many segments mean many tests: read the Holm-adjusted p-values, not the raw ones.")
    for scheme, rows in result["segments"].items():
        seg.table(_flat(rows), caption=scheme)
    title = f"Campaign {result['campaign']}: {result['start_date']} to {result['end_date']}"
    return render(title, f"audience {result['audience']}, control share {result['control_share']}", [head, seg])


def report(cfg: Config, con: duckdb.DuckDBPyConnection, name: str, end: date) -> dict:
    """The report of campaign `name` from its start to `end`; writes report-<end>.html/.json beside it."""
    root = Path(cfg.output.root)
    record = load_definition(root, name)
    folder = campaign_folder(root, name)
    start_date = date.fromisoformat(record["start_date"])
    if end <= start_date:
        raise InputError(f"report date {end} is not after the start of campaign {name!r} ({start_date})")
    df = outcomes(con, pd.read_parquet(folder / "members.parquet"), start_date, end)
    result = {
        "campaign": name,
        "audience": record["audience"],
        "control_share": record["control_share"],
        "start_date": start_date.isoformat(),
        "end_date": end.isoformat(),
        "days": (end - start_date).days,
        **compare(df),
        "segments": by_segment(df),
        "method": {
            "purchase_rate": "difference of proportions, normal approximation (Wald), 95 % interval",
            "revenue_per_member": "difference of means, Welch's t, 95 % interval",
            "segments": "same tests per segment at start; p_holm = Holm-adjusted within each scheme",
        },
    }
    arms = result["arms"]
    result["min_detectable_effect"] = uplift.min_detectable_effect(
        arms[TEST]["members"], arms[CONTROL]["members"], arms[CONTROL]["purchase_rate"]
    )
    curve = cumulative(df, start_date, end)
    html = outputs.write_text(folder / f"report-{end}.html", report_html(result, curve))
    result["html"] = str(html)
    result = _clean(result)
    outputs.write_text(folder / f"report-{end}.json", json.dumps(result, indent=2))
    return result
