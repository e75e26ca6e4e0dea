"""The campaign report: from the start date to D, per arm and by segment at start, uplift with honest statistics.

A member is a buyer when they order in (start date, D]; the statistics are  and their
assumptions docs/actions.md.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from segment.config import Config
from segment.errors import InputError
from segment.models import uplift
from segment.models.uplift import CONTROL, TEST
from segment.pipeline import outputs, plots
from segment.pipeline.campaigns import campaign_folder, load_definition
from segment.pipeline.htmlpage import Section, render
from segment.schema import CUSTOMER_ID, SCHEME_COLUMNS


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
