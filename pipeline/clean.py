"""Cleaning rules (DESIGN §2), applied in order and counted in a data report.

Cancellations and returns are kept as negative revenue (and counted), never dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import duckdb

from segment.config import DataConfig
from segment.errors import InputError
from segment.pipeline.column_sql import quote_ident
from segment.pipeline.load import SourceFile
from segment.schema import LINE_COLUMNS

CANONICAL = LINE_COLUMNS
# |value| at or above this, NaN and infinity are not money: the line is dropped and counted (rule
# `non_finite_or_huge_number`). Amounts are DECIMAL(18, 4), which holds less than 1e14; a trillion per line is
# far past any real order and leaves room for sums.
HUGE = 1e12
# working columns of `clean_lines`: the first cleaning rule a line breaks (0: none), a hash of the line
DROP_RULE, LINE_HASH = "drop_rule", "line_hash"


@dataclass
class DataReport:
    """What loading and cleaning did: rows in, dropped per rule, rows out, and what remains."""

    files: list[SourceFile]
    rows_in: int
    dropped: dict[str, int] = field(default_factory=dict)
    rows_out: int = 0
    return_lines: int = 0
    customers: int = 0
    orders: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    customers_one_order: int = 0
    customers_net_negative: int = 0  # returned more than they bought (kept; they are real customers)

    def to_dict(self) -> dict:
        """JSON-ready form for MLflow and `--json` output."""
        return asdict(self)


def _rules(cfg: DataConfig, cols: set[str]) -> list[tuple[str, str]]:
    """(rule name, SQL predicate of rows to drop), in the order they are applied."""
    rules = [
        ("missing_customer_id", "customer_id IS NULL"),
        ("missing_timestamp", '"timestamp" IS NULL'),
    ]
    if "amount" in cols:
        rules.append(("missing_amount", "amount IS NULL"))
    else:
        rules.append(("missing_quantity_or_price", "quantity IS NULL OR unit_price IS NULL"))
    numbers = [c for c in ("quantity", "unit_price", "amount", "discount") if c in cols]
    if "amount" not in cols:
        numbers.append("quantity * unit_price")
    # NOT (abs(x) < HUGE) holds for NaN too (NaN compares above every number in DuckDB)
    rules.append(("non_finite_or_huge_number", " OR ".join(f"NOT (abs({c}) < {HUGE:.0e})" for c in numbers)))
    if cfg.non_product_codes and "product_id" in cols:
        codes = ", ".join("'" + c.replace("'", "''") + "'" for c in cfg.non_product_codes)
        rules.append(("non_product_code", f"product_id IN ({codes})"))
    if "unit_price" in cols:
        rules.append(("non_positive_price", "unit_price <= 0"))
    else:
        rules.append(("zero_amount", "amount = 0"))
    return rules


def ruled_lines_sql(
    cfg: DataConfig, cols: set[str], source: str, carry: dict[str, str] | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """The SELECT writing every line of `source` in clean columns with its first broken rule and its hash.

    Returns the SQL and the rules it numbers (1, 2, ... in order; 0: kept). `carry` adds columns (name ->
    SQL over `source`) that are not part of the line: they are left out of the hash and of every rule (the
    incremental store carries the file a line came from), so the hashes equal those of a run without them.
    """
    rules = _rules(cfg, cols)
    carry = carry or {}
    amount = "amount" if "amount" in cols else "quantity * unit_price"
    order = "order_id" if "order_id" in cols else "strftime(\"timestamp\", '%Y-%m-%dT%H:%M:%S.%f')"
    extra = [c for c in ("quantity", "product_id", "category", "country", "unit_price", "discount") if c in cols]
    # money as DECIMAL: sums are exact, so parallel aggregation gives the same result on every run
    # (dropped lines are written too, before the delete: a huge or NaN amount becomes NULL, not a cast error)
    money = f"CAST(round(CASE WHEN abs({amount}) < {HUGE:.0e} THEN {amount} END, 4) AS DECIMAL(18, 4)) AS amount"
    select = ", ".join(["customer_id", '"timestamp"', f"{order} AS order_id", money, *extra])
    # One pass over the source: every line is written with the number of the first rule that drops it (0:
    # kept; a CASE evaluates each column once) and its hash, so the counts and the duplicate search read
    # the table, not the files again. The dropped lines are then deleted, before the duplicate search.
    first = " ".join(f"WHEN {predicate} THEN {i}" for i, (_, predicate) in enumerate(rules, 1))
    rule_column = f"CAST(CASE {first} ELSE 0 END AS UTINYINT) AS {DROP_RULE}"
    carried = "".join(f", {expr} AS {quote_ident(name)}" for name, expr in carry.items())
    excluded = ", ".join([DROP_RULE, *(quote_ident(name) for name in carry)])
    sql = f"""SELECT *, hash(*COLUMNS(* EXCLUDE ({excluded}))) AS {LINE_HASH} FROM (
            SELECT {select}, {DROP_RULE}{carried} FROM (SELECT *, {rule_column} FROM {source})
        )"""
    return sql, rules


def clean_lines(
    con: duckdb.DuckDBPyConnection,
    cfg: DataConfig,
    files: list[SourceFile],
    source: str = "raw_lines",
    table: str = "lines",
) -> DataReport:
    """Create `table` of clean order lines from `source`; return the data report of rows in, dropped and out.

    The counts of what remains (customers, orders, returns) are filled by `describe_orders` once the
    orders are built: they are far cheaper to count from orders than from lines.

    Output columns: customer_id, timestamp, order_id, amount and whichever of quantity,
    product_id, category, country, unit_price, discount are mapped. `order_id` falls back to the
    timestamp (one customer at one instant is one order) when not mapped.
    """
    cols = {c for c in CANONICAL if c in con.table(source).columns}
    sql, rules = ruled_lines_sql(cfg, cols, source)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
    counts = dict(con.execute(f"SELECT {DROP_RULE}, count(*) FROM {table} GROUP BY ALL").fetchall())
    rows_in, remaining = sum(counts.values()), counts.get(0, 0)
    report = DataReport(files=files, rows_in=rows_in)
    report.dropped.update({name: counts.get(i, 0) for i, (name, _) in enumerate(rules, 1)})
    if remaining < rows_in:
        con.execute(f"DELETE FROM {table} WHERE {DROP_RULE} <> 0")
    con.execute(f"ALTER TABLE {table} DROP COLUMN {DROP_RULE}")
    drop_duplicate_lines(con, table)
    out = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    report.dropped["duplicate_line"] = remaining - out
    report.rows_out = out
    if out == 0:
        rule = max(report.dropped, key=report.dropped.get)
        column = {"missing_customer_id": cfg.columns.customer_id, "missing_timestamp": cfg.columns.timestamp}.get(rule)
        raise InputError(
            f"no usable rows: all {rows_in} rows were dropped, most by rule {rule!r}",
            file=", ".join(f.path for f in files),
            column=column,
        )
    return report


def drop_duplicate_lines(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Delete all but the first of each set of identical lines (every column equal, NULLs equal); drop `line_hash`.

    The column `line_hash` holds a hash of each line's other columns. Same lines as a `SELECT DISTINCT`, but the
    kept ones stay in file order: DISTINCT returns them in hash order, and every later group-by over them
    (orders, features) then ran up to twice as slow. Only lines whose hash repeats are compared in full:
    equal lines have equal hashes, and lines whose hashes collide are told apart by the full comparison (a
    GROUP BY, as in DISTINCT), so the result is exact whatever the hash.
    """
    h = LINE_HASH
    cols = ", ".join(quote_ident(c) for c in con.table(table).columns if c != LINE_HASH)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE duplicate_candidates AS
        SELECT rowid AS line_rowid, {cols} FROM {table}
        WHERE {h} IN (SELECT {h} FROM {table} GROUP BY {h} HAVING count(*) > 1)"""
    )
    con.execute(
        f"""DELETE FROM {table} WHERE rowid IN (
            SELECT line_rowid FROM duplicate_candidates
            EXCEPT SELECT min(line_rowid) FROM duplicate_candidates GROUP BY {cols})"""
    )
    con.execute("DROP TABLE duplicate_candidates")
    con.execute(f"ALTER TABLE {table} DROP COLUMN {h}")


def describe_orders(
    con: duckdb.DuckDBPyConnection, report: DataReport, lines: str = "lines", orders: str = "orders"
) -> DataReport:
    """Fill the report's counts of what remains from the clean `lines` and the `orders` built from them.

    The per-customer and per-order counts come from `orders` (one row per order id and day, far fewer
    than lines): an order id's rows there together hold exactly its lines, so "bought" (some line with a
    positive amount) is "some row with gross > 0", and a customer's net is the sum of its rows' net.
    Only the return lines and the last timestamp need the lines, in a plain scan.
    """
    scan = f'SELECT count(*) FILTER (WHERE amount < 0), max("timestamp") FROM {lines}'
    returns, last_ts = con.execute(scan).fetchall()[0]
    # GROUP BY, not count(DISTINCT ...): grouped aggregates spill to disk, DISTINCT aggregates cannot
    stats = con.execute(
        f"""WITH o AS (
                SELECT customer_id, order_id, bool_or(gross > 0) AS bought, sum(net) AS net, min(ts) AS first_ts
                FROM {orders} GROUP BY customer_id, order_id
            ), c AS (
                SELECT customer_id, count(*) FILTER (WHERE bought) AS purchases, sum(net) AS net
                FROM o GROUP BY customer_id
            )
            SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM o), (SELECT min(first_ts) FROM o),
                   (SELECT count(*) FILTER (WHERE purchases = 1) FROM c),
                   (SELECT count(*) FILTER (WHERE net < 0) FROM c)"""
    ).fetchall()[0]
    report.return_lines, report.customers, report.orders = int(returns or 0), stats[0], stats[1]
    report.first_timestamp = str(stats[2]) if stats[2] is not None else None
    report.last_timestamp = str(last_ts) if last_ts is not None else None
    report.customers_one_order, report.customers_net_negative = stats[3], stats[4]
    return report
