"""Customer features at many cutoffs from running sums per customer (DuckDB; the training snapshots).

`features.customer.feature_sql` joins every order to every cutoff at or after it, so 32 cutoffs read
about 16 times the orders. Here the orders are read once: one query reduces them to one row per
(customer, day with an order) in customer and day order, with the day's sums, the new products and
categories first bought that day, and the running mean and deviation of the gaps between purchases
after the day (a purchase's predecessor is the same at every cutoff that sees it). Then each sum is
accumulated per customer (`C(t)`: the total over the customer's days up to day t), and a feature at a
cutoff c is a lookup, never a scan: totals are `C(c)`, "the last w days" is `C(c) - C(c - w)`, any band
of ages [lo, hi] is `C(c - lo) - C(c - hi - 1)` (the 90 days before the last 90, last year's window,
the seasonal frames). A lookup is a binary search in the sorted (customer, day) keys, so the work is
the customer-days once plus a few lookups per output row, whatever the number of cutoffs.

The most frequent country and the top category's share are not running sums: almost every customer has
one country, so the mode is computed per cutoff only for the others; the top-category share joins lines
to cutoffs (it needs a mapped category). The output equals `features.customer.customer_features`
(tests/test_running_features.py; scripts/perf/features_cutoffs.py --check on 1M lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from segment.features.catalogue import available
from segment.schema import KEYS, PURCHASE_DAYS, WINDOWS

EPOCH = "DATE '1970-01-01'"
TEMP = ("running_cut", "running_ids", "running_country", "running_country_mixed", "running_category")
SUMS = ("nb", "net", "gb", "g", "r", "wk")  # purchases, net, purchase gross, gross, returned, weekend purchases


def _day(expr: str) -> str:
    """Whole days since 1970 of a timestamp."""
    return f"date_diff('day', {EPOCH}, CAST({expr} AS DATE))"


def _season_frames(horizon_days: int, max_age_days: int) -> list[tuple[int, int]]:
    """Age ranges [lo, hi] in days with `age % 365 >= 365 - h`, up to the oldest age in the data."""
    h = int(horizon_days)
    if h >= 365:
        return [(0, max(max_age_days, 0))]
    return [(365 * k + 365 - h, 365 * k + 364) for k in range(max(max_age_days, 0) // 365 + 1)]


def days_sql(lines_cols: set[str], orders_cols: set[str], last_day: date, sampled: bool = False) -> str:
    """One row per (customer, day with an order up to `last_day`), in `running_ids` order then day order.

    `sampled`: `running_ids` holds only some customers; the others' lines and orders are skipped early.
    """
    only = " SEMI JOIN running_ids USING (customer_id)" if sampled else ""
    opt = [c for c in ("items", "discount") if c in orders_cols]
    extra = "".join(
        ", sum(items) FILTER (WHERE gross > 0) AS items" if c == "items" else ", sum(discount) AS discount" for c in opt
    )
    firsts = [(c, n) for c, n in (("product_id", "new_p"), ("category", "new_c")) if c in lines_cols]
    first_ctes = "".join(
        f""", {n} AS (
        SELECT customer_id, day, count(*) AS {n} FROM (
            SELECT customer_id, {col}, {_day('min("timestamp")')} AS day FROM lines{only} WHERE amount > 0
            GROUP BY ALL
        ) GROUP BY ALL)"""
        for col, n in firsts
    )
    first_joins = "".join(f" LEFT JOIN {n} USING (customer_id, day)" for _, n in firsts)
    first_cols = "".join(f", coalesce({n}, 0) AS {n}" for _, n in firsts)
    return f"""
    WITH po AS (
        SELECT *, {_day("ts")} AS day,
            CASE WHEN gross > 0 THEN epoch(ts - lag(ts) OVER w) / 86400.0 END AS gap
        FROM orders{only} WHERE ts < DATE '{last_day.isoformat()}' + INTERVAL 1 DAY
        WINDOW w AS (PARTITION BY customer_id, gross > 0 ORDER BY ts, order_id)
    ),
    ps AS (
        SELECT *, avg(gap) OVER g AS gap_mean, stddev_samp(gap) OVER g AS gap_std FROM po
        WINDOW g AS (PARTITION BY customer_id, gross > 0 ORDER BY ts, order_id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    days AS (
        SELECT customer_id, day,
            count(*) FILTER (WHERE gross > 0) AS nb, sum(net) AS net,
            sum(gross) FILTER (WHERE gross > 0) AS gb, sum(gross) AS g, sum(returned) AS r,
            count(*) FILTER (WHERE gross > 0 AND dayofweek(ts) IN (0, 6)) AS wk{extra},
            arg_max(gap_mean, (ts, order_id)) FILTER (WHERE gross > 0) AS gap_mean,
            arg_max(gap_std, (ts, order_id)) FILTER (WHERE gross > 0) AS gap_std
        FROM ps GROUP BY customer_id, day
    ){first_ctes}
    SELECT i.cid, d.* EXCLUDE (customer_id){first_cols}
    FROM days d JOIN running_ids i USING (customer_id){first_joins}
    ORDER BY i.cid, d.day
    """


def _extra_tables(con: duckdb.DuckDBPyConnection, has_country: bool, has_category: bool) -> dict[str, pd.DataFrame]:
    """Country per customer (the mode per cutoff where it has several) and the top-category share per cutoff."""
    out: dict[str, pd.DataFrame] = {}
    if has_country:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE running_country AS
            SELECT customer_id, any_value(country) AS one_country,
                   count(DISTINCT country) > 1 OR count(country) < count(*) AS mixed
            FROM orders SEMI JOIN running_ids USING (customer_id) GROUP BY customer_id"""
        )
        out["country"] = con.execute(
            "SELECT cid, one_country AS country, mixed "
            "FROM running_country JOIN running_ids USING (customer_id) ORDER BY cid"
        ).df()
        out["country_mixed"] = con.execute(
            """WITH counts AS (
                SELECT c.k, o.customer_id, o.country, count(*) AS n
                FROM orders o SEMI JOIN (SELECT customer_id FROM running_country WHERE mixed) m USING (customer_id)
                JOIN running_cut c ON o.ts < c.cutoff + INTERVAL 1 DAY
                WHERE o.country IS NOT NULL GROUP BY ALL
            )
            SELECT k, cid, country AS value FROM (
                SELECT *, row_number() OVER (PARTITION BY k, customer_id ORDER BY n DESC, country) AS rn FROM counts
            ) JOIN running_ids USING (customer_id) WHERE rn = 1"""
        ).df()
    if has_category:
        out["top_category_share"] = con.execute(
            """SELECT k, cid, max(v) / nullif(sum(v), 0) AS value FROM (
                SELECT c.k, x.customer_id, x.category, sum(x.amount) AS v
                FROM lines x SEMI JOIN running_ids i ON i.customer_id = x.customer_id
                JOIN running_cut c ON x."timestamp" < c.cutoff + INTERVAL 1 DAY
                WHERE x.amount > 0 GROUP BY ALL
            ) JOIN running_ids USING (customer_id) GROUP BY ALL"""
        ).df()
    return out


def _cutoff_tables(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[date], customers: str | None) -> None:
    """Create `running_cut` (numbered cutoffs) and `running_ids` (customer -> rank in the engine's order).

    `running_ids` holds every customer, or only those in the relation `customers`.
    """
    cut = pd.DataFrame({"cutoff": sorted(set(pd.to_datetime(list(cutoffs)).date))})
    con.register("running_cut_df", cut)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE running_cut AS
            SELECT row_number() OVER (ORDER BY cutoff) AS k, cutoff, {_day("cutoff")} AS cday
            FROM (SELECT CAST(cutoff AS DATE) AS cutoff FROM running_cut_df)"""
        )
    finally:
        con.unregister("running_cut_df")
    only = f" SEMI JOIN {customers} USING (customer_id)" if customers else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE running_ids AS
        SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS cid
        FROM (SELECT DISTINCT customer_id FROM orders{only})"""
    )


class _Running:
    """Per-customer running sums `C(t)` of the customer-day rows, looked up at every marker (cutoff, customer).

    A lookup "the customer's last day at or before cday - o" is a count: a day is seen from the first
    cutoff j with cday_j >= day + o, so counting each customer's days by that j and accumulating over j
    gives, at every (customer, j), how many of its days are seen; their last one is the row looked up.
    """

    def __init__(self, d: pd.DataFrame, cdays: np.ndarray, n_ids: int, j: np.ndarray, cid: np.ndarray) -> None:
        self.cid_d, self.day = d["cid"].to_numpy(np.int64) - 1, d["day"].to_numpy(np.int64)
        self.cdays, self.n_ids, self.j, self.cid = cdays, n_ids, j, cid
        self.start = np.searchsorted(self.cid_d, np.arange(n_ids))  # each customer's first row
        self._index: dict[int, np.ndarray] = {}
        cols = [c for c in d.columns if c not in ("cid", "day", "gap_mean", "gap_std")]
        g = d[cols].astype(float).fillna(0.0).groupby(self.cid_d, sort=False)
        cum = {c: v.to_numpy() for c, v in g.cumsum().items()}  # sequential per customer: no cancellation
        buy_day = d["day"].astype(float).where(d["nb"] > 0, -np.inf)
        cum["last_buy"] = buy_day.groupby(self.cid_d, sort=False).cummax().to_numpy()
        for c in ("gap_mean", "gap_std"):  # after the latest purchase (NULL until there are one / two gaps)
            cum[c] = d[c].astype(float).groupby(self.cid_d, sort=False).ffill().to_numpy()
        self.cum = {c: np.append(v, 0.0) for c, v in cum.items()}  # index -1 (no day yet) reads the 0 at the end

    def index(self, offset: int) -> np.ndarray:
        """Per marker, the row of the customer's last day at or before cday - offset; -1 where there is none."""
        if offset not in self._index:
            k = len(self.cdays)
            seen_from = np.searchsorted(self.cdays, self.day + offset, side="left")  # k: never seen
            grid = np.bincount(seen_from * self.n_ids + self.cid_d, minlength=(k + 1) * self.n_ids)
            grid = grid.astype(np.int32).reshape(k + 1, self.n_ids)
            for row in range(1, k):  # accumulate over the cutoffs, in place (row k: never seen, unused)
                np.add(grid[row], grid[row - 1], out=grid[row])
            seen = grid[self.j, self.cid]
            self._index[offset] = np.where(seen > 0, self.start[self.cid] + seen - 1, -1)
        return self._index[offset]

    def total(self, col: str) -> np.ndarray:
        """`C(cday)` at every marker."""
        return self.cum[col][self.index(0)]

    def band(self, col: str, lo: int, hi: int) -> np.ndarray:
        """The sum over the customer's days aged lo..hi days at every marker."""
        return self.cum[col][self.index(lo)] - self.cum[col][self.index(hi + 1)]


def _markers(d: pd.DataFrame, cut: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cutoff index j, customer index, first purchase day) at every cutoff on or after a first purchase.

    In the output's order: by cutoff, then by customer.
    """
    buys = d[d["nb"] > 0]
    first = buys.groupby("cid", sort=True)["day"].min()
    cids, fdays = first.index.to_numpy(np.int64) - 1, first.to_numpy(np.int64)
    parts = [(fdays <= cday) for cday in cut["cday"]]
    j = np.concatenate([np.full(int(m.sum()), i, dtype=np.int64) for i, m in enumerate(parts)])
    return j, np.concatenate([cids[m] for m in parts]), np.concatenate([fdays[m] for m in parts])


def _keyed(frame: pd.DataFrame, j: np.ndarray, cid: np.ndarray, n_ids: int) -> np.ndarray:
    """`value` of a (k, cid, value) frame (1-based) at each (cutoff index j, customer index); missing -> None."""
    keys = pd.Index((frame["k"].to_numpy(np.int64) - 1) * n_ids + frame["cid"].to_numpy(np.int64) - 1)
    pos = keys.get_indexer(j * n_ids + cid)
    values = np.append(frame["value"].to_numpy(object), None)  # -1 (not found) reads the None at the end
    return values[pos]


def _frame(
    d: pd.DataFrame, cut: pd.DataFrame, ids: pd.api.extensions.ExtensionArray, extra: dict, h: int, names: list[str]
) -> pd.DataFrame:
    """The catalogue's expressions at every (cutoff, customer) from the running sums."""
    j, cid, first_day = _markers(d, cut)
    cdays = cut["cday"].to_numpy(np.int64)
    run = _Running(d, cdays, len(ids), j, cid)
    cday = cdays[j].astype(float)
    nb = run.total("nb")
    last_buy, gap_mean = run.total("last_buy"), run.total("gap_mean")
    recency = cday - last_buy
    gross = run.total("g")
    gross = np.where(gross != 0, gross, np.nan)
    max_age = int(cdays.max() - d["day"].min()) if len(d) else 0
    num = {
        "recency_days": lambda: recency,
        "frequency": lambda: nb,
        "monetary": lambda: run.total("net"),
        "monetary_mean": lambda: run.total("net") / nb,
        "tenure_days": lambda: cday - first_day,
        **{f"orders_{w}d": (lambda w=w: run.band("nb", 0, w - 1)) for w in WINDOWS},
        **{f"revenue_{w}d": (lambda w=w: run.band("net", 0, w - 1)) for w in WINDOWS},
        "trend_orders_90d": lambda: run.band("nb", 0, 89) - run.band("nb", 90, 179),
        "trend_revenue_90d": lambda: run.band("net", 0, 89) - run.band("net", 90, 179),
        "orders_same_window_last_year": lambda: run.band("nb", max(365 - h, 0), 364),
        "gap_mean_days": lambda: gap_mean,
        "gap_std_days": lambda: run.total("gap_std"),
        "recency_over_gap": lambda: recency / np.where(gap_mean != 0, gap_mean, np.nan),
        "mean_order_value": lambda: run.total("gb") / nb,
        "items_per_order": lambda: run.total("items") / nb,
        "return_rate": lambda: run.total("r") / gross,
        "discount_share": lambda: run.total("discount") / gross,
        "weekend_share": lambda: run.total("wk") / nb,
        "same_season_share": lambda: sum(run.band("nb", lo, hi) for lo, hi in _season_frames(h, max_age)) / nb,
        "cutoff_month": lambda: np.array([c.month for c in cut["cutoff"]], dtype=float)[j],
        "distinct_products": lambda: run.total("new_p"),
        "distinct_categories": lambda: run.total("new_c"),
        "top_category_share": lambda: _keyed(extra["top_category_share"], j, cid, len(ids)).astype(float),
        PURCHASE_DAYS: lambda: run.total("pdays"),
    }
    numeric = [n for n in names if n != "country"]
    block = np.empty((len(numeric), len(j)))  # one float block, filled column by column (no copy after)
    for i, n in enumerate(numeric):
        block[i] = num[n]()
    np.round(block, 9, out=block)  # as customer_features: parallel float sums differ in the last bits
    df = pd.DataFrame(block.T, columns=numeric, copy=False)
    df.insert(0, "customer_id", ids.take(cid))
    df.insert(0, "cutoff", cut["cutoff"].to_numpy()[j])
    if "country" in names:  # the customer's one country, or for the few with several the mode at the cutoff
        per_customer = extra["country"]  # one row per customer, in `cid` order
        one = pd.array(per_customer["country"].fillna("unknown").to_numpy(object), dtype=ids.dtype)
        country = one.take(cid)
        mixed = np.flatnonzero(per_customer["mixed"].to_numpy(bool)[cid])
        if len(mixed):
            found = _keyed(extra["country_mixed"], j[mixed], cid[mixed], len(ids))
            country[mixed] = pd.array(np.where(pd.isna(found), "unknown", found), dtype=ids.dtype)
        df["country"] = country
    return df


def running_features(
    con: duckdb.DuckDBPyConnection,
    cutoffs: Sequence[date],
    *,
    horizon_days: int,
    with_purchase_days: bool = False,
    customers: str | None = None,
) -> pd.DataFrame:
    """The frame `features.customer.customer_features` returns, computed from running sums per customer.

    `with_purchase_days` adds the last column `features.purchase_days.with_purchase_days` would add;
    `customers` (a relation with `customer_id`) keeps only those customers' rows.
    """
    lines_cols, orders_cols = set(con.table("lines").columns), set(con.table("orders").columns)
    try:
        _cutoff_tables(con, cutoffs, customers)
        cut = con.execute("SELECT k, cutoff, cday FROM running_cut ORDER BY k").df()
        last = max(pd.to_datetime(cut["cutoff"]).dt.date)
        d = con.execute(days_sql(lines_cols, orders_cols, last, sampled=customers is not None)).df()
        ids = con.execute("SELECT customer_id FROM running_ids ORDER BY cid").df()["customer_id"].astype(str).array
        extra = _extra_tables(con, "country" in orders_cols, "category" in lines_cols)
    finally:
        for t in TEMP:
            con.execute(f"DROP TABLE IF EXISTS {t}")
    cut["cutoff"] = pd.to_datetime(cut["cutoff"]).dt.date
    names = [f.name for f in available(lines_cols)] + ([PURCHASE_DAYS] if with_purchase_days else [])
    d["pdays"] = (d["nb"] > 0).astype(float)  # a day with a purchase order
    df = _frame(d, cut, ids, extra, int(horizon_days), names)[[*KEYS, *names]]
    if df.empty and "country" in df:  # as the engine returns an empty text column
        df["country"] = df["country"].astype(object)
    return df
