"""The staged replenishment computation equals the direct SQL it replaced (window over text ids, quantile_cont).

The direct form is kept here as the reference: it is the definition in docs/actions.md written as plainly
as SQL allows, and it ran out of memory at 100M lines (docs/performance.md, section 5).
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segment.features.replenishment import DUE_COLUMNS, INTERVAL_COLUMNS, replenishment, repurchase_intervals
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, prepare
from tests.conftest import REPO

DAYS = """SELECT DISTINCT customer_id, product_id, CAST("timestamp" AS DATE) AS day FROM {lines}
    WHERE amount > 0 AND product_id IS NOT NULL AND "timestamp" < CAST($when AS DATE) + INTERVAL 1 DAY"""
INTERVALS = """SELECT product_id, count(DISTINCT customer_id) AS customers, count(*) AS repurchases,
       quantile_cont(gap, 0.5) AS median_days, quantile_cont(gap, 0.25) AS q25_days,
       quantile_cont(gap, 0.75) AS q75_days
    FROM (SELECT customer_id, product_id,
                 date_diff('day', lag(day) OVER (PARTITION BY customer_id, product_id ORDER BY day), day) AS gap
          FROM days)
    WHERE gap IS NOT NULL GROUP BY product_id HAVING count(DISTINCT customer_id) >= $min"""
DUE = "l.last_purchase + to_days(CAST(round(i.median_days) AS INTEGER))"


def direct(con: duckdb.DuckDBPyConnection, when: date, min_customers: int, horizon: int, lines: str):
    """The reference: both frames in one plain query each."""
    params = {"when": when, "min": min_customers}
    with_ = f"WITH days AS ({DAYS.format(lines=lines)}), intervals AS ({INTERVALS})"
    per_product = con.execute(f"{with_} SELECT * FROM intervals ORDER BY median_days, product_id", params).df()
    due = con.execute(
        f"""{with_} SELECT l.customer_id, l.product_id, l.last_purchase, i.median_days, CAST({DUE} AS DATE) AS due_date
            FROM (SELECT customer_id, product_id, max(day) AS last_purchase FROM days GROUP BY ALL) l
            JOIN intervals i USING (product_id)
            WHERE {DUE} > CAST($when AS DATE) AND {DUE} <= CAST($when AS DATE) + to_days(CAST($h AS INTEGER))
            ORDER BY due_date, customer_id, product_id""",
        params | {"h": horizon},
    ).df()
    for col in ("last_purchase", "due_date"):
        due[col] = pd.to_datetime(due[col]).dt.date
    return per_product, due


def _same(got: tuple[pd.DataFrame, pd.DataFrame], want: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    assert list(got[0].columns) == list(INTERVAL_COLUMNS) and list(got[1].columns) == list(DUE_COLUMNS)
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g.reset_index(drop=True), w.reset_index(drop=True), check_dtype=False)
        assert [str(t) for t in g.dtypes] == [str(t) for t in w.dtypes]


@pytest.fixture(scope="module")
def sample_con():
    con = connect()
    prepare(con, load_config(REPO / "configs" / "default.yaml").data)
    return con


@pytest.mark.parametrize(
    ("when", "min_customers", "horizon"),
    [
        (date(2010, 3, 31), 2, 30),
        (date(2011, 6, 30), 5, 30),
        (date(2011, 12, 9), 3, 90),
        (date(2011, 12, 9), 50, 14),
    ],
)
def test_staged_equals_direct_on_the_real_sample(sample_con, when, min_customers, horizon):
    got = replenishment(sample_con, when, min_customers, horizon)
    want = direct(sample_con, when, min_customers, horizon, "lines")
    _same(got, want)
    assert len(want[0]) > 0  # the comparison is not between two empty frames
    assert not sample_con.execute("SELECT * FROM duckdb_tables() WHERE table_name LIKE 'replenishment_%'").fetchall()


def test_an_empty_answer_keeps_its_columns(sample_con):
    per_product, due = replenishment(sample_con, date(2011, 6, 30), 10**6, 30)
    assert per_product.empty and due.empty
    assert list(per_product.columns) == list(INTERVAL_COLUMNS) and list(due.columns) == list(DUE_COLUMNS)
    assert repurchase_intervals(sample_con, date(2000, 1, 1), 1).empty  # nothing bought by then


lines_strategy = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.sampled_from(["P", "Q", "R"]), st.integers(0, 120), st.booleans()),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=lines_strategy, offset=st.integers(0, 130), min_customers=st.integers(1, 3), horizon=st.integers(1, 60))
def test_staged_equals_direct_on_random_histories(rows, offset, min_customers, horizon):
    """Random customers, products, days and returns: every interval, quartile and due row agree."""
    start = date(2021, 1, 1)
    df = pd.DataFrame(
        [
            (c, p, pd.Timestamp(start + timedelta(days=d)) + pd.Timedelta(hours=d % 7), 5.0 if buy else -5.0)
            for c, p, d, buy in rows
        ],
        columns=["customer_id", "product_id", "timestamp", "amount"],
    )
    con = duckdb.connect()
    con.register("random_lines", df)
    when = start + timedelta(days=offset)
    _same(
        replenishment(con, when, min_customers, horizon, lines="random_lines"),
        direct(con, when, min_customers, horizon, "random_lines"),
    )


def test_the_action_csvs_are_the_bytes_to_csv_writes(sample_con, tmp_path):
    """`actions_outputs.write_into` renders the due list and intervals with `csv_write` (dates, floats, ids)."""
    from segment.pipeline import actions_outputs

    frames = actions_outputs.ActionFrames(date(2011, 12, 9))
    frames.intervals, frames.replenishment = replenishment(sample_con, date(2011, 12, 9), 3, 90)
    actions_outputs.write_into(frames, tmp_path)
    for name, df in (("replenishment.csv", frames.replenishment), ("replenishment_intervals.csv", frames.intervals)):
        df.to_csv(tmp_path / "expected.csv", index=False)
        assert len(df) > 50 and (tmp_path / name).read_bytes() == (tmp_path / "expected.csv").read_bytes()
