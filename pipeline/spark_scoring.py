"""Apply a registered classifier to a Spark DataFrame with `mlflow.pyfunc.spark_udf`: P(class 1) per row.

The models are logged with `predict_proba` as their pyfunc method (pipeline/tracking.py), so a prediction is a
pair [P(class 0), P(class 1)]. Four traps, each reproduced in tests/spark/test_scoring_udf.py:

- `result_type="double"` does not fail: it silently returns the first element, P(class 0). The UDF is
  declared as an array of doubles and element 1 is taken.
- The input columns go in as one struct, so the model sees a frame with its signature's column names;
  passed as separate arguments, they arrive as positional columns 0..n-1.
- Executors start Python workers with `PYSPARK_PYTHON`: it must be an interpreter with mlflow, LightGBM and
  this project (`spark_session` sets it to the driver's for local runs; on a cluster, the cluster's).
- `env_manager` is passed explicitly: `local` uses the executors' environment as it is (local mode, a
  cluster with the project installed); `virtualenv` or `conda` rebuild the model's logged environment on
  each executor, which a cluster without the packages needs.
"""

from __future__ import annotations

from typing import Any

from segment.pipeline import tracking

PROBABILITY_INDEX = 1  # P(class 1) in predict_proba's [P(0), P(1)]


def signature_columns(model_uri: str) -> list[str]:
    """The model's input columns, in signature order (nothing else reaches the model)."""
    return tracking.signature_columns(model_uri)


def positive_probability(
    spark: Any, model_uri: str, frame: Any, *, output: str, env_manager: str = "local", columns: list[str] | None = None
) -> Any:
    """`frame` with a DOUBLE column `output` = P(class 1) of the model at `model_uri` for each row.

    Runs on the executors, in Arrow batches; `columns` default to the signature's. Pass the folder
    `tracking.verified_folder` returns as `model_uri`, so the executors load a checked model.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, DoubleType

    cols = columns or signature_columns(model_uri)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"model {model_uri} needs feature columns {missing} that the frame does not have")
    udf = tracking.spark_udf(spark, model_uri, result_type=ArrayType(DoubleType()), env_manager=env_manager)
    return frame.withColumn(output, udf(F.struct(*[F.col(f"`{c}`") for c in cols]))[PROBABILITY_INDEX])
