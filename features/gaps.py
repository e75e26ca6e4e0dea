"""Distribution of days between purchases, by how many orders a customer had placed.

The lifecycle grid derives its "active" and "at risk" recency thresholds from these gaps,
so a store where people buy every week and one where they buy twice a year both get
sensible stages.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from segment.features.engine import Engine


def gap_quantiles_sql(orders: str, cutoff: date, loyal_orders: int, quantiles: tuple[float, float]) -> str:
    """Quantiles of the gap after a customer's k-th purchase, for k in buckets one/repeat/loyal."""
    qa, qr = (float(q) for q in quantiles)
    return f"""
        WITH p AS (
            SELECT customer_id, ts, row_number() OVER w AS k,
                   date_diff('day', CAST(lag(ts) OVER w AS DATE), CAST(ts AS DATE)) AS gap
            FROM {orders} WHERE gross > 0 AND ts < DATE '{cutoff.isoformat()}' + INTERVAL 1 DAY
            WINDOW w AS (PARTITION BY customer_id ORDER BY ts, order_id)
        )
        SELECT CASE WHEN k - 1 = 1 THEN 'one' WHEN k - 1 < {int(loyal_orders)} THEN 'repeat' ELSE 'loyal' END
                   AS bucket,
               count(*) AS gaps,
               quantile_cont(gap, {qa}) AS active_days,
               quantile_cont(gap, {qr}) AS at_risk_days
        FROM p WHERE gap IS NOT NULL GROUP BY ALL ORDER BY bucket
        """


def gap_quantiles(
    engine: Engine,
    cutoff: date,
    *,
    loyal_orders: int,
    quantiles: tuple[float, float],
    orders: str = "orders",
) -> pd.DataFrame:
    """One row per bucket with columns `bucket`, `gaps` (count), `active_days`, `at_risk_days`.

    Only gaps that closed on or before the cutoff are seen.
    """
    return engine.query(gap_quantiles_sql(orders, cutoff, loyal_orders, quantiles))
