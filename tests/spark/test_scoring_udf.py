"""The champion models applied on Spark with mlflow.pyfunc.spark_udf give pyfunc's probabilities."""

from __future__ import annotations

from datetime import date

import mlflow
import numpy as np
import pytest

from segment.pipeline import prepare as duck
from segment.pipeline.snapshot import build_snapshots
from segment.pipeline.tracking import tracking_uri


@pytest.mark.spark
def test_spark_udf_gives_the_pyfunc_probabilities_of_class_1(engine, trained):
    from pyspark.sql import functions as F

    from segment.pipeline.spark_scoring import positive_probability, signature_columns

    _, cfg, _ = trained
    uri = tracking_uri(cfg.tracking)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model_uri = f"models:/{cfg.tracking.model_prefix}propensity@champion"
    when = date(2011, 9, 30)
    snaps = build_snapshots(duck.prepare_data(cfg.data).engine, [when], time=cfg.time, segments=cfg.segments)
    feats = snaps.features.drop(columns="cutoff")  # the model inputs, purchase days included
    cols = signature_columns(model_uri)
    expected = np.asarray(mlflow.pyfunc.load_model(model_uri).predict(feats[cols]))[:, 1]
    assert 0.05 < expected.mean() < 0.95  # a real model, not a constant

    frame = engine.spark.createDataFrame(feats[["customer_id", *cols]])
    got = positive_probability(engine.spark, model_uri, frame, output="p").select("customer_id", "p").toPandas()
    got = got.set_index("customer_id").loc[feats["customer_id"], "p"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)

    # the trap: result_type="double" runs, and silently returns the first element, P(class 0)
    udf = mlflow.pyfunc.spark_udf(engine.spark, model_uri, result_type="double", env_manager="local")
    wrong = frame.withColumn("p", udf(F.struct(*cols))).select("customer_id", "p").toPandas()
    wrong = wrong.set_index("customer_id").loc[feats["customer_id"], "p"].to_numpy()
    np.testing.assert_allclose(wrong, 1 - expected, rtol=1e-9, atol=1e-12)
