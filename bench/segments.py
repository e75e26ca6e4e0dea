"""Segment stability on Online Retail II: two fits 28 days apart, the second matched to the first.

For the customers present at both cutoffs: the adjusted Rand index of their cluster assignments (each
at its own cutoff, and both models on the same later snapshot), the share whose cluster id changed, and
the share whose named RFM segment changed. Target (issue 5): adjusted Rand index >= 0.8.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from bench.common import REPO, header, table, write
from segment.features.customer import customer_features
from segment.features.engine import DuckDBEngine
from segment.features.gaps import gap_quantiles
from segment.models.segments import rule_based_segments
from segment.pipeline.config_file import load_config
from segment.pipeline.prepare import connect, data_span, prepare
from segment.pipeline.segmenting import fit_segmenter

CONFIG = REPO / "configs" / "online_retail_ii.yaml"
DAYS_APART = 28


def _rules(con, feats: pd.DataFrame, cutoff, cfg) -> pd.DataFrame:
    lc = cfg.segments.lifecycle
    gaps = gap_quantiles(
        DuckDBEngine(con), cutoff, loyal_orders=lc.loyal_orders, quantiles=(lc.active_quantile, lc.at_risk_quantile)
    )
    return rule_based_segments(feats, gaps, cfg.segments.rfm_rules, lc)


def measure(config_path: Path = CONFIG) -> pd.DataFrame:
    """One row of stability figures for the config's data."""
    cfg = load_config(config_path)
    con = connect()
    prepare(con, cfg.data)
    _, last = data_span(con)
    t1, t2 = last - timedelta(days=DAYS_APART), last
    f1, f2 = (customer_features(DuckDBEngine(con), [t], horizon_days=cfg.time.horizon_days) for t in (t1, t2))
    first, _ = fit_segmenter(f1, cfg, None)
    second, stability = fit_segmenter(f2, cfg, first)
    both = f1[["customer_id"]].assign(a=first.predict(f1), r1=_rules(con, f1, t1, cfg)["rfm_segment"].to_numpy())
    later = f2[["customer_id"]].assign(
        b=second.predict(f2), a_on_later=first.predict(f2), r2=_rules(con, f2, t2, cfg)["rfm_segment"].to_numpy()
    )
    m = both.merge(later, on="customer_id")
    return pd.DataFrame(
        [
            {
                "data": config_path.stem,
                "cutoffs": f"{t1} / {t2}",
                "customers in both": len(m),
                "k (first / second)": f"{first.k_} / {second.k_}",
                "ARI, each at its own cutoff": adjusted_rand_score(m["a"], m["b"]),
                "ARI, both models on the later snapshot": adjusted_rand_score(m["a_on_later"], m["b"]),
                "cluster id changed": float(np.mean(m["a"] != m["b"])),
                "clusters whose id was remapped": stability.ids_moved,
                "RFM segment changed": float(np.mean(m["r1"] != m["r2"])),
            }
        ]
    )


def run(results_dir: Path) -> Path:
    """Measure and write bench/results/segments.md."""
    df = measure()
    text = (
        header("Segment stability (issue 5)", "segments")
        + __doc__.split("\n\n", 1)[1]
        + "\n"
        + table(df.T.reset_index().set_axis(["measure", "value"], axis=1))
    )
    return write(results_dir, "segments", text)
