"""`score` with engine: spark writes the segment table the DuckDB engine writes, from the same champions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from segment.pipeline.score import score


@pytest.mark.spark
def test_spark_score_writes_the_duckdb_segment_table(engine, trained, tmp_path):
    _, cfg, _ = trained
    when = date(2011, 9, 30)
    tables = {}
    for name in ("duckdb", "spark"):
        output = cfg.output.model_copy(update={"root": str(tmp_path / name)})
        tables[name] = score(cfg.model_copy(update={"engine": name, "output": output}), when).table
    duck, spark = (t.sort_values("customer_id").reset_index(drop=True) for t in (tables["duckdb"], tables["spark"]))
    assert len(duck) > 500
    assert list(spark.columns) == list(duck.columns)
    assert (spark.dtypes == duck.dtypes).all()
    for col in duck.columns:
        if duck[col].dtype.kind == "f":
            np.testing.assert_allclose(spark[col], duck[col], rtol=1e-9, atol=1e-12, err_msg=col)
        else:
            assert spark[col].astype(str).tolist() == duck[col].astype(str).tolist(), col
