"""The vocabulary of the pipeline, declared once.

Column names, targets, windows, segment schemes and the segment-table contract. Every layer (and the
tests) imports these names instead of writing them out.
"""

from __future__ import annotations

from typing import Literal

# ---------------------------------------------------------------- keys

CUSTOMER_ID = "customer_id"
CUTOFF = "cutoff"
SCORE_DATE = "score_date"
KEYS = (CUTOFF, CUSTOMER_ID)  # one row of the feature table: a customer at a cutoff

# ---------------------------------------------------------------- the clean order lines (input contract)

TIMESTAMP = "timestamp"
ORDER_ID = "order_id"
AMOUNT = "amount"
LINE_COLUMNS = (
    CUSTOMER_ID,
    TIMESTAMP,
    ORDER_ID,
    "product_id",
    "category",
    "country",
    "quantity",
    "unit_price",
    AMOUNT,
    "discount",
)  # canonical names a source's columns are mapped to (DESIGN §2)
NUMERIC_LINE_COLUMNS = ("quantity", "unit_price", AMOUNT, "discount")
TEXT_LINE_COLUMNS = (ORDER_ID, "product_id", "category", "country")
CATEGORICAL_FEATURES = ("country",)  # text feature columns: encoded by the models, binned by category in drift

# ---------------------------------------------------------------- time windows of the features

WINDOWS = (30, 90, 180, 365)  # days: orders_{w}d and revenue_{w}d

# ---------------------------------------------------------------- targets and labels

Target = Literal["churn", "propensity"]
TARGETS: tuple[Target, ...] = ("churn", "propensity")
LABEL: dict[str, str] = {"churn": "churn_label", "propensity": "purchase_label"}
LABEL_COLUMNS = tuple(LABEL.values())
SEGMENTER = "segmenter"
MODELS = (*TARGETS, SEGMENTER)  # every registered model, in the order they are trained


def registered_name(prefix: str, model: str) -> str:
    """The registry name of one of the config's models: `tracking.model_prefix` + model."""
    return f"{prefix}{model}"


# ---------------------------------------------------------------- segment schemes

SCHEMES: dict[str, str] = {  # scheme name (profiles, plots) -> its column in the segment table
    "rfm_segments": "rfm_segment",
    "lifecycle": "lifecycle_stage",
    "clusters": "cluster_name",
}
SCHEME_COLUMNS = tuple(SCHEMES.values())
RFM_SCORES = ("r_score", "f_score", "m_score")

# ---------------------------------------------------------------- the segment table (DESIGN §8)

SEGMENT_TABLE: dict[str, str] = {  # column -> pandas dtype, in contract order
    CUSTOMER_ID: "object",
    SCORE_DATE: "object",
    "recency_days": "float64",
    "frequency": "float64",
    "monetary": "float64",
    "r_score": "int64",
    "f_score": "int64",
    "m_score": "int64",
    "rfm_segment": "object",
    "lifecycle_stage": "object",
    "cluster_id": "int64",
    "cluster_name": "object",
    "churn_probability": "float64",
    "purchase_probability": "float64",
    "churn_risk": "object",
    "propensity_decile": "int64",
    "model_versions": "object",
    "run_id": "object",
}
SEGMENT_TABLE_COLUMNS = tuple(SEGMENT_TABLE)
EXPORT_COLUMNS = (
    CUSTOMER_ID,
    "monetary",
    "last_order_date",
    "country",  # when mapped
    "expected_value",  # when the segment table has it
    *SCHEME_COLUMNS,
    "churn_probability",
    "purchase_probability",
    "churn_risk",
    "propensity_decile",
)  # the per-segment CSVs, most valuable first; plus only the customer attributes the config lists
