"""The Python requirements logged with every model: stated, not inferred.

Left to itself, MLflow infers a model's requirements by starting a Python process that loads the model
and records every module it imports, then maps modules to installed packages. That took 18 of the 20 s
of registering one model (docs/performance.md), and what it recorded was whatever the environment had
loaded: it listed `pytest` and `rich`, which a model never needs. A model here is a scikit-learn
pipeline of LightGBM and scikit-learn parts stored with skops, so loading it needs exactly these
packages, pinned to the versions that trained it.
"""

from __future__ import annotations

from importlib.metadata import version

MODEL_PACKAGES = ("mlflow", "scikit-learn", "lightgbm", "skops", "numpy", "pandas", "scipy")


def model_pip_requirements(packages: tuple[str, ...] = MODEL_PACKAGES) -> list[str]:
    """`package==installed version` for each package a logged model needs to load and predict."""
    return [f"{name}=={version(name)}" for name in packages]
