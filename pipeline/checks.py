"""Sanity checks on the data's dates that a new user trips over: future dates, short histories, far score dates.

Pure rules (dates and counts in, sentences out) plus two small queries over the clean tables. The CLI and
the orchestrators decide what a finding does: a warning on stderr and in the report, or a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from segment.errors import InputError
from segment.features.engine import Engine
from segment.features.snapshots import SnapshotPlan

SEASON_DAYS = 2 * 365  # two years: the least history in which a yearly pattern is seen twice
FEW_CUTOFFS = 12  # fewer training cutoffs than this: the models see few independent label windows
YEAR = timedelta(days=365)


def today() -> date:
    """Today in UTC (the timestamps are naive UTC unless `data.timezone` says otherwise)."""
    return datetime.now(UTC).date()


def future_lines(engine: Engine, on: date, lines: str = "lines") -> int:
    """Clean lines dated after the day `on` (a clock or a year typed wrong in the export)."""
    sql = f"SELECT count(*) AS n FROM {lines} WHERE CAST(\"timestamp\" AS DATE) > DATE '{on.isoformat()}'"
    df = engine.query(sql)
    return int(df["n"].iloc[0])


def future_warning(count: int, on: date) -> str | None:
    """The sentence for lines dated after today, or None when there are none."""
    if not count:
        return None
    return (
        f"{count:,} line(s) are dated after today ({on}): check the export's clock or data.timestamp_format "
        "(day and month swapped?); features and labels treat them as real orders"
    )


def history_warnings(first: date, last: date, plan: SnapshotPlan) -> list[str]:
    """A history shorter than two years cannot teach seasonality; few cutoffs give few label windows."""
    out = []
    days = (last - first).days
    if days < SEASON_DAYS:
        out.append(
            f"the history spans {days} days ({first} .. {last}), under two years: a yearly pattern (Christmas, "
            "summer) is seen at most once, so the models cannot tell a seasonal dip from churn"
        )
    if len(plan.train) < FEW_CUTOFFS:
        out.append(
            f"training uses {len(plan.train)} cutoff(s) (fewer than {FEW_CUTOFFS}): validation metrics will be "
            "noisy; more history, or a smaller time.snapshot_step_days, gives more"
        )
    return out


def orders_between(engine: Engine, start: date, end: date, orders: str = "orders") -> int:
    """Purchase orders dated in [start, end]."""
    df = engine.query(
        f"SELECT count(*) AS n FROM {orders} WHERE gross > 0 "
        f"AND CAST(ts AS DATE) BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'"
    )
    return int(df["n"].iloc[0])


@dataclass(frozen=True)
class DateVerdict:
    """Whether a score date makes sense for the data, and why not."""

    ok: bool
    reason: str = ""


def score_date_verdict(when: date, last: date, horizon_days: int, orders_in_year_before: int) -> DateVerdict:
    """A score date more than one horizon past the data, or with no order in the year before it, is refused.

    Past the horizon the features describe a world the data has not seen: every customer's recency grows
    by the gap, yet the rule segments and models were fitted on customers whose last order was recent.
    """
    gap = (when - last).days
    if gap > horizon_days:
        return DateVerdict(
            False,
            f"score date {when} is {gap} days after the last order in the data ({last}), more than the "
            f"{horizon_days}-day horizon: the data does not describe customers on that date",
        )
    if orders_in_year_before == 0:
        return DateVerdict(
            False, f"there is no order in the year before the score date {when} ({when - YEAR} .. {when})"
        )
    return DateVerdict(True)


def check_score_date(engine: Engine, when: date, last: date, horizon_days: int, force: bool) -> str | None:
    """Refuse a score date the data cannot describe (exit 2) unless forced; forced, return the warning."""
    verdict = score_date_verdict(when, last, horizon_days, orders_between(engine, when - YEAR, when))
    if verdict.ok:
        return None
    if not force:
        raise InputError(f"{verdict.reason}; nothing was scored (pass --force to score it anyway)")
    return f"{verdict.reason}; scored anyway (--force)"
