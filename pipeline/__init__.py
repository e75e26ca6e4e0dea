"""Orchestration and I/O: config, loading, cleaning, MLflow tracking, training and scoring."""
