"""`python -m bench.child TASK FILE`: one measured task in its own process; prints a JSON line.

Each task runs in a fresh process so its peak resident memory (ru_maxrss, which includes DuckDB's native
threads) is its own. Tasks: `prepare` (load, validate, clean, build orders), `features` (prepare plus the
customer feature table at the last date), `peer` (pymc-marketing's `rfm_summary` on the same lines, read
into pandas first, as its users do), `floor` (DuckDB removing exact duplicate lines and nothing else: a
bound on any pipeline that must do it), `train` and `score` (the whole command on a config file).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path


def _config(path: str):
    import yaml

    from bench.generate import COLUMNS
    from segment.pipeline.config_file import load_config

    cfg = Path(path).with_suffix(".bench.yaml")
    cfg.write_text(yaml.safe_dump({"data": {"source": [path], "columns": COLUMNS}}))
    return load_config(cfg)


def run(task: str, path: str) -> dict:
    """Do the task; return what it produced and how long its own work took."""
    from segment.models.threads import configure_openmp

    configure_openmp()  # as the CLI does, before lightgbm is imported
    start = time.perf_counter()
    if task in ("prepare", "features"):
        from segment.features.customer import customer_features
        from segment.features.engine import DuckDBEngine
        from segment.pipeline.prepare import connect, data_span, prepare

        cfg = _config(path)
        start = time.perf_counter()
        con = connect()
        report = prepare(con, cfg.data)
        out = {"rows": report.rows_in, "customers": report.customers}
        if task == "features":
            _, last = data_span(con)
            feats = customer_features(DuckDBEngine(con), [last], horizon_days=cfg.time.horizon_days)
            out["feature_columns"] = feats.shape[1] - 2
    elif task in ("train", "score"):  # PATH is a config file
        from segment.pipeline.config_file import load_config
        from segment.pipeline.progress import set_quiet

        set_quiet(True)
        cfg = load_config(Path(path))
        start = time.perf_counter()
        if task == "train":
            from segment.pipeline.train import train

            report = train(cfg, Path(path)).result.data.report
            out = {"rows": report.rows_in, "customers": report.customers}
        else:
            from segment.pipeline.score import score

            result = score(cfg)
            scored = result.scored
            out = {"rows": scored.report.rows_in, "customers": result.rows, "not_scored": scored.not_scored}
    elif task == "peer":
        import pandas as pd

        warnings.filterwarnings("ignore")
        from pymc_marketing.clv.utils import rfm_summary

        start = time.perf_counter()
        df = pd.read_parquet(path, columns=["Customer ID", "InvoiceDate", "Quantity", "Price"])
        df["monetary"] = df["Quantity"] * df["Price"]
        summary = rfm_summary(df, "Customer ID", "InvoiceDate", monetary_value_col="monetary")
        out = {"rows": len(df), "customers": len(summary)}
    elif task == "floor":  # exact-duplicate removal alone, the one step every correct pipeline must do
        import duckdb

        start = time.perf_counter()
        con = duckdb.connect(":memory:")
        total, distinct = con.execute(
            "SELECT (SELECT count(*) FROM read_parquet($p)), "
            "(SELECT count(*) FROM (SELECT DISTINCT * FROM read_parquet($p)))",
            {"p": path},
        ).fetchone()
        out = {"rows": total, "distinct_lines": distinct}
    else:
        raise SystemExit(f"unknown task {task!r}")
    out["work_seconds"] = time.perf_counter() - start
    out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2])))
