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
PURCHASE_DAYS = "purchase_days"  # distinct days with a purchase order: BG/NBD's x + 1 (not a model input)
SEASON_CONSTANTS = ("cutoff_month",)  # constant within a snapshot: not a model input, never checked for drift

# ---------------------------------------------------------------- targets and labels

Target = Literal["churn", "propensity"]
TARGETS: tuple[Target, ...] = ("churn", "propensity")
LABEL: dict[str, str] = {"churn": "churn_label", "propensity": "purchase_label"}
LABEL_COLUMNS = tuple(LABEL.values())
SEGMENTER = "segmenter"

# value and timing (issue 18): labels in (t, t + H] and (t, t + grid end], and the models' outputs
VALUE_NET = "value_net"  # net order value in (t, t + H]: returns in the window reduce it; may be negative
VALUE_LABEL = "value_label"  # value_net floored at 0: the value model's label
PAST_VALUE = "past_value"  # net order value in (t - H, t], floored at 0: the "last H days repeat" baseline
NEXT_ORDER_DAYS = "next_order_days"  # days from t to the next purchase order; NaN when none by the grid end
NEXT_ORDER_OBSERVED = "next_order_observed"  # whether next_order_days is observed (not censored)
VALUE_LABEL_COLUMNS = (VALUE_NET, VALUE_LABEL, PAST_VALUE, NEXT_ORDER_DAYS, NEXT_ORDER_OBSERVED)
VALUE_MODEL, TIMING_MODEL = "value", "timing"  # registered names, after the config's prefix
EXPECTED_REVENUE = "expected_revenue"  # segment-table columns of the value and timing champions
VALUE_TIER = "value_tier"
EXPECTED_NEXT_ORDER_DATE = "expected_next_order_date"
EXPECTED_ORDERS = "expected_orders"  # BG/NBD's expected purchase days in the value horizon (a model input)
VALUE_COLUMNS = (EXPECTED_REVENUE, VALUE_TIER, EXPECTED_NEXT_ORDER_DATE, EXPECTED_ORDERS)
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
    EXPECTED_REVENUE: "float64",  # NaN when no value champion is registered (trained before issue 18)
    VALUE_TIER: "object",  # high / medium / low; None without a value champion
    EXPECTED_NEXT_ORDER_DATE: "object",  # a date, or None: not expected within the timing grid
    EXPECTED_ORDERS: "float64",
    "model_versions": "object",
    "run_id": "object",
}
SEGMENT_TABLE_COLUMNS = tuple(SEGMENT_TABLE)
EXPORT_COLUMNS = (
    CUSTOMER_ID,
    "monetary",
    "last_order_date",
    "country",  # when mapped
    EXPECTED_REVENUE,  # when the segment table has it
    VALUE_TIER,
    EXPECTED_NEXT_ORDER_DATE,
    *SCHEME_COLUMNS,
    "churn_probability",
    "purchase_probability",
    "churn_risk",
    "propensity_decile",
)  # the per-segment CSVs, most valuable first; plus only the customer attributes the config lists
