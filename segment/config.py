"""The configuration schema: every section as a frozen pydantic model, declared once.

Every step receives only its own sub-config. Unknown keys are errors (a typo must not silently fall back
to a default). Reading YAML, resolving relative paths and `--set` overrides live in
`segment.pipeline.config_file`; this module does no I/O, so `features` and `models` can import it.
"""

from __future__ import annotations

import itertools
import posixpath
import re
import zoneinfo
from datetime import date
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"  # SQL and attribute names from config: validated, then quoted


class Strict(BaseModel):
    """Base for config objects: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Columns(Strict):
    """Source column names for each canonical field (DESIGN §2)."""

    customer_id: str = Field(description="customer identifier (kept as exact text)")
    timestamp: str = Field(description="order time: timestamp, date, or text in `data.timestamp_format`")
    order_id: str | None = Field(None, description="invoice/order id; default: one order per customer and instant")
    quantity: str | None = Field(None, description="units per line (negative = return)")
    unit_price: str | None = Field(None, description="price per unit; amount = quantity x unit_price")
    amount: str | None = Field(None, description="line value; replaces quantity and unit_price")
    product_id: str | None = Field(None, description="product code (distinct products; non-product codes)")
    category: str | None = Field(None, description="product category (distinct categories, top-category share)")
    country: str | None = Field(None, description="customer country (a model feature)")
    discount: str | None = Field(None, description="discount value per line (a positive number)")

    @model_validator(mode="after")
    def _money(self) -> Columns:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map either `amount`, or both `quantity` and `unit_price`")
        return self

    def mapped(self) -> dict[str, str]:
        """Canonical name -> source name, for the mapped columns only."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class CsvOptions(Strict):
    """How CSV files are parsed."""

    delimiter: str = Field(",", description="field separator, e.g. `;` or `\\t`")
    encoding: str = Field("utf-8", description="text encoding, e.g. `latin-1`")
    quote: str = Field('"', description="quote character")
    decimal: Literal[".", ","] = Field(
        ".",
        description="decimal separator of numbers in text: `,` for European exports (then `.` and spaces "
        "are read as thousands separators: `1.234,50` = 1234.5)",
    )


class SqlSource(Strict):
    """Transactions from a SQL query, read through SQLAlchemy in chunks."""

    url: str = Field(description="SQLAlchemy URL, e.g. `postgresql+psycopg://user@host/db` or `sqlite:///shop.db`")
    query: str = Field(min_length=1, description="a SELECT returning one row per order line")
    chunk_rows: int = Field(100_000, ge=1_000, description="rows fetched per round trip")


class DataConfig(Strict):
    """Where the transactions are and what their columns mean: files (`source`) or a query (`sql`)."""

    source: list[str] = Field(default_factory=list, description="files, folders or globs (CSV or Parquet)")
    sql: SqlSource | None = None
    columns: Columns
    csv: CsvOptions = CsvOptions()
    timestamp_format: str | None = Field(None, description="strptime format for text timestamps, e.g. `%d/%m/%Y %H:%M`")
    timezone: str = Field(
        "UTC", description="zone all times are expressed in: zoned timestamps are converted, naive ones assumed in it"
    )
    non_product_codes: list[str] = Field(default_factory=list, description="product ids of fees, postage...: dropped")
    customer_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="name -> source column of per-customer data (e-mail...): only for exports that list it, "
        "never a feature, never logged",
    )

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("customer_attributes")
    @classmethod
    def _attribute_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not re.fullmatch(IDENTIFIER, k)]
        if bad:
            raise ValueError(f"attribute names must be identifiers (letters, digits, _): {bad}")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/London')") from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if bool(self.source) == (self.sql is not None):
            raise ValueError("give either `source` (files) or `sql` (a query), not both and not neither")
        return self


class TimeConfig(Strict):
    """Snapshot, label and window definitions (DESIGN §3)."""

    horizon_days: int = Field(90, gt=0, description="N and H: label window after the cutoff")
    churn_lookback_days: int = Field(365, gt=0, description="L: active-customer window before the cutoff")
    snapshot_step_days: int = Field(14, gt=0, description="days between stacked training cutoffs")
    train_snapshots: int = Field(
        30, ge=1, le=200, description="how many training cutoffs to stack (30 x 14 days: over a year, every season)"
    )
    validation_snapshots: int = Field(1, ge=1, le=10, description="latest labelled cutoffs held out")


class RfmRule(Strict):
    """One named RFM segment: inclusive score ranges; the first matching rule wins."""

    name: str
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)

    @field_validator("r", "f", "m")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not 1 <= lo <= hi <= 5:
            raise ValueError(f"score range {list(v)} must satisfy 1 <= low <= high <= 5")
        return v

    def matches(self, r: int, f: int, m: int) -> bool:
        """Whether scores (r, f, m) fall in this rule's ranges."""
        return self.r[0] <= r <= self.r[1] and self.f[0] <= f <= self.f[1] and self.m[0] <= m <= self.m[1]


DEFAULT_RFM_RULES = (
    RfmRule(name="Champions", r=(5, 5), f=(4, 5)),
    RfmRule(name="Loyal", r=(3, 4), f=(4, 5)),
    RfmRule(name="Can't Lose Them", r=(1, 2), f=(5, 5)),
    RfmRule(name="At Risk", r=(1, 2), f=(3, 4)),
    RfmRule(name="Potential Loyalist", r=(4, 5), f=(2, 3)),
    RfmRule(name="New", r=(5, 5), f=(1, 1)),
    RfmRule(name="Promising", r=(4, 4), f=(1, 1)),
    RfmRule(name="Need Attention", r=(3, 3), f=(3, 3)),
    RfmRule(name="About to Sleep", r=(3, 3), f=(1, 2)),
    RfmRule(name="Hibernating", r=(2, 2), f=(1, 2)),
    RfmRule(name="Lost", r=(1, 1), f=(1, 2)),
)


class LifecycleConfig(Strict):
    """Lifecycle grid: order-count stage x activity, thresholds derived from the data's gaps."""

    new_days: int = Field(90, gt=0, description="first order within this many days: stage 'new'")
    loyal_orders: int = Field(5, ge=3, description="orders at or above this: stage 'loyal'")
    active_quantile: float = Field(0.8, gt=0, lt=1, description="gap quantile up to which a customer is active")
    at_risk_quantile: float = Field(0.95, gt=0, lt=1, description="gap quantile up to which at risk; past it lapsed")

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if self.active_quantile >= self.at_risk_quantile:
            raise ValueError("active_quantile must be below at_risk_quantile")
        return self


DEFAULT_CLUSTER_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "mean_order_value",
    "orders_365d",
    "return_rate",
)


class ClusterConfig(Strict):
    """K-means segmenter: features, k range and selection rules."""

    features: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLUSTER_FEATURES), min_length=2, description="features k-means sees"
    )
    k_min: int = Field(3, ge=2, description="smallest k tried")
    k_max: int = Field(8, ge=2, description="largest k tried")
    sample_size: int = Field(5000, ge=100, description="customers sampled for the silhouette search")
    min_share: float = Field(0.03, ge=0, lt=0.5, description="smallest cluster share a k may produce")
    random_state: int = Field(0, description="seed of sampling and k-means")

    @model_validator(mode="after")
    def _k(self) -> ClusterConfig:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not exceed k_max")
        return self


class SegmentsConfig(Strict):
    """Rule-based and clustered segments (DESIGN §5)."""

    rfm_rules: list[RfmRule] = Field(
        default_factory=lambda: list(DEFAULT_RFM_RULES),
        description="named segments: {name, r: [lo, hi], f: [lo, hi], m: [lo, hi]}; first match wins",
    )
    lifecycle: LifecycleConfig = LifecycleConfig()
    clusters: ClusterConfig = ClusterConfig()

    @field_validator("rfm_rules")
    @classmethod
    def _cover(cls, rules: list[RfmRule]) -> list[RfmRule]:
        uncovered = [
            (r, f, m)
            for r, f, m in itertools.product(range(1, 6), repeat=3)
            if not any(rule.matches(r, f, m) for rule in rules)
        ]
        if uncovered:
            raise ValueError(f"rfm_rules leave {len(uncovered)} score combinations unassigned, e.g. {uncovered[:3]}")
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError("rfm_rules names must be unique")
        return rules


class LightGBMConfig(Strict):
    """Booster hyperparameters; early stopping picks the number of trees."""

    n_estimators: int = Field(1000, ge=1)
    learning_rate: float = Field(0.03, gt=0, le=1)
    num_leaves: int = Field(7, ge=2)
    min_child_samples: int = Field(300, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(100, ge=1)
    random_state: int = 0


class SearchConfig(Strict):
    """Optional hyperparameter search with Optuna (the `tune` extra); off while `trials` is 0.

    Trials are scored on the tuning rows, never on the validation snapshot, so the validation metrics of
    the chosen model stay an honest estimate.
    """

    trials: int = Field(0, ge=0, description="Optuna trials per model; 0 = use `models.lightgbm` as given")
    timeout_seconds: float = Field(
        300, gt=0, description="wall-time bound of the search per model: no trial starts after it"
    )
    seed: int = Field(0, description="seed of the TPE sampler")


MAX_TRAINING_ROWS = 1_000_000  # docs/performance.md: fit CPU grows with the rows; quality was flat from 200k
MAX_VALIDATION_ROWS = 1_000_000  # docs/performance.md section 9: 2.7M validation rows were half the 100M peak


class GateConfig(Strict):
    """What a new model must show on the validation customers to take the `champion` alias."""

    margin: float = Field(
        0.0, description="ROC-AUC the new model must gain over the champion at the bootstrap's lower 5 % point"
    )
    bootstrap: int = Field(300, ge=20, description="paired bootstrap resamples of the validation customers")
    max_ece: float = Field(0.05, gt=0, le=1, description="calibration guard: largest validation ECE allowed")
    baselines: list[str] = Field(
        default_factory=lambda: ["rfm_logistic", "bgnbd"],
        description="baselines the new model's ROC-AUC must not fall below",
    )


class ModelsConfig(Strict):
    """Churn and propensity classifiers."""

    lightgbm: LightGBMConfig = LightGBMConfig()
    search: SearchConfig = SearchConfig()
    champion_metric: Literal["pr_auc", "roc_auc", "brier", "log_loss", "ece"] = Field(
        "pr_auc", description="validation metric a new model must match or beat to take the `champion` alias"
    )
    max_training_rows: int | None = Field(
        MAX_TRAINING_ROWS,
        ge=1000,
        description="cap on training-snapshot rows: a seeded sample of whole customers above it; null = no cap",
    )
    max_validation_rows: int | None = Field(
        MAX_VALIDATION_ROWS,
        ge=1000,
        description="cap on validation-snapshot rows: a seeded sample of whole customers above it (the training "
        "cap's hash, so its customers stay); null = no cap",
    )
    bgnbd_baseline: bool = Field(
        True, description="also score the BG/NBD baseline on the validation rows (the card's comparison; cheap: numpy)"
    )
    season_step: bool = Field(
        True, description="add last year's log-odds step from the calibration window to the predicted one"
    )
    backtest_windows: list[date] = Field(
        default_factory=list,
        description="validation cutoffs of `make bench SECTIONS=models`; empty: the three latest, one horizon apart",
    )
    gate: GateConfig = GateConfig()


class ValueConfig(Strict):
    """Value (net revenue in the next H days) and timing (days to the next order) models (issue 18)."""

    horizon_days: list[int] = Field(
        default_factory=lambda: [90],
        description="H of the value label, one model each (e.g. [90, 365]); the first is the segment table's; "
        "a horizon the data is too short to label is skipped with a note",
    )
    model: Literal["tweedie", "hurdle"] = Field(
        "tweedie",
        description="value model: LightGBM Tweedie, or `hurdle` = P(buy) x mean spend of buyers (docs/models.md)",
    )
    tweedie_variance_power: float = Field(1.5, gt=1, lt=2, description="Tweedie power: 1 Poisson, 2 gamma")
    tier_percentiles: tuple[float, float] = Field(
        (0.5, 0.8), description="percentiles of predicted value splitting low / medium / high `value_tier`"
    )
    timing_grid_days: list[int] = Field(
        default_factory=lambda: [7, 14, 30, 60, 90],
        description="d of P(next order within d days); the last is the grid end; points past the first value "
        "horizon have no label and are dropped with a note",
    )
    champion_metric: Literal["spearman", "gini", "top_decile_capture", "mae", "rmse"] = Field(
        "spearman", description="validation metric a new value model must match or beat to become champion"
    )
    timing_champion_metric: Literal["mae_days", "ece_30", "ece_90"] = Field(
        "mae_days", description="validation metric (lower is better) a new timing model must match or beat"
    )

    @field_validator("horizon_days", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) else v

    @field_validator("horizon_days")
    @classmethod
    def _horizons(cls, v: list[int]) -> list[int]:
        if not v or any(h <= 0 for h in v) or len(set(v)) != len(v):
            raise ValueError("value.horizon_days must be one or more distinct positive day counts")
        return v

    @field_validator("timing_grid_days")
    @classmethod
    def _grid(cls, v: list[int]) -> list[int]:
        if not v or v[0] <= 0 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("value.timing_grid_days must be strictly increasing positive day counts")
        return v

    @field_validator("tier_percentiles")
    @classmethod
    def _tiers(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] < v[1] < 1:
            raise ValueError("value.tier_percentiles must be two increasing numbers in (0, 1)")
        return v


class TrackingConfig(Strict):
    """MLflow location and names. MLFLOW_TRACKING_URI, when set, wins over `uri`."""

    uri: str = Field("sqlite:///mlflow.db", description="tracking and registry store")
    artifact_root: str = Field("mlartifacts", description="artifact folder of a new experiment")
    experiment: str = Field("segmentation", description="MLflow experiment name")
    model_prefix: str = Field("", description="prefix of registered model names (one set per config)")


class ScoringConfig(Strict):
    """Batch scoring options."""

    churn_risk_thresholds: tuple[float, float] = Field(
        (0.3, 0.6), description="churn probability cut points of low / medium / high risk (without quantiles)"
    )
    churn_risk_quantiles: tuple[float, float] | None = Field(
        (0.5, 0.8),
        description="rank quantiles of churn probability where medium and high risk start (default: the top "
        "20 % high, the next 30 % medium); null: use `churn_risk_thresholds`",
    )
    drift_warn_psi: float = Field(0.2, gt=0, description="population stability index above which a feature warns")
    fail_on_drift: float | None = Field(
        None, gt=0, description="PSI above which scoring fails and writes nothing (default: never fail)"
    )
    lock_timeout_seconds: float = Field(
        600, ge=0, description="how long a score run waits for another run writing the same outputs"
    )

    @field_validator("churn_risk_thresholds", "churn_risk_quantiles")
    @classmethod
    def _thresholds(cls, v: tuple[float, float] | None, info) -> tuple[float, float] | None:
        if v is not None and not 0 < v[0] < v[1] < 1:
            raise ValueError(f"{info.field_name} must be two increasing numbers in (0, 1)")
        return v


# Folders an output root may never be in (or be): scoring writes and deletes files under its root.
SYSTEM_FOLDERS = (
    "/etc", "/usr", "/bin", "/sbin", "/boot", "/dev", "/proc", "/sys", "/lib", "/lib32", "/lib64", "/libx32",
    "/var/lib", "/var/log", "/var/run", "/var/spool", "/var/cache", "/var/mail", "/run", "/root", "/snap",
)  # fmt: skip
# Shared top-level folders an output root may be inside but never be.
TOP_FOLDERS = ("/", "/home", "/tmp", "/var", "/mnt", "/media", "/srv", "/opt")


def unsafe_output_folder(path: str) -> str | None:
    """Why `path` (absolute) cannot hold outputs: the root, a shared top folder or a system folder; else None.

    Lexical (no I/O): `..` parts are folded first, so `/srv/x/../../etc` is `/etc`. Symlinks are checked
    where the config file is read (`segment.pipeline.safe_paths`).
    """
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if not posixpath.isabs(norm):
        return None
    if norm in TOP_FOLDERS:
        return f"{norm} is a shared top-level folder"
    hit = next((f for f in SYSTEM_FOLDERS if norm == f or norm.startswith(f + "/")), None)
    return f"{norm} is inside the system folder {hit}" if hit else None


class OutputConfig(Strict):
    """Where the segment table is written."""

    root: str = Field(
        "output",
        description="folder of the Parquet dataset and reports: inside the project (the config's project folder) "
        "or under one of `allowed_roots`; never `/` or a system folder",
    )
    allowed_roots: list[str] = Field(
        default_factory=list,
        description="absolute folders outside the project that `root` may be in (e.g. `/srv/segment`)",
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite segments.db under root")
    table: str = Field("segment_table", pattern=IDENTIFIER, description="database table")
    summary_table: str = Field("segment_summary", pattern=IDENTIFIER, description="database table of the summary")
    db_schema: str | None = Field(None, pattern=IDENTIFIER, description="database schema of both tables")
    exports: bool = Field(True, description="write one CSV per segment for e-mail and ad tools")
    export_attributes: list[str] = Field(
        default_factory=list,
        description="customer attributes (names from data.customer_attributes, e.g. email) added to the CSVs",
    )

    @field_validator("root")
    @classmethod
    def _safe_root(cls, v: str) -> str:
        why = unsafe_output_folder(v)
        if why:
            raise ValueError(f"output root {v!r} is not allowed: {why}")
        return v

    @field_validator("allowed_roots")
    @classmethod
    def _safe_allowed(cls, v: list[str]) -> list[str]:
        for folder in v:
            if not posixpath.isabs(folder):
                raise ValueError(f"allowed root {folder!r} must be an absolute path")
            why = unsafe_output_folder(folder)
            if why:
                raise ValueError(f"allowed root {folder!r} is not allowed: {why}")
        return v

    @model_validator(mode="after")
    def _two_tables(self) -> OutputConfig:
        if self.table.lower() == self.summary_table.lower():
            raise ValueError(f"output.summary_table must differ from output.table (both {self.table!r})")
        return self


AUDIENCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"  # audience and campaign names: also file names
Value = str | int | float


def _ordered_range(r: Any) -> Any:
    """A range needs at least one end, and its low end may not pass its high end."""
    if r.min is None and r.max is None:
        raise ValueError("give `min`, `max` or both")
    if r.min is not None and r.max is not None and r.min > r.max:
        raise ValueError(f"min {r.min} is above max {r.max}")
    return r


class NumberRange(Strict):
    """An inclusive range; either end may be left open."""

    min: float | None = Field(None, description="lowest value kept (inclusive)")
    max: float | None = Field(None, description="highest value kept (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        return _ordered_range(self)


class DateRange(Strict):
    """An inclusive range of dates (YYYY-MM-DD); either end may be left open."""

    min: date | None = Field(None, description="earliest date kept (inclusive)")
    max: date | None = Field(None, description="latest date kept (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        return _ordered_range(self)


class ColumnCondition(Strict):
    """A condition on one segment-table column: values in / not in a list, and/or a numeric range."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    in_: list[Value] | None = Field(None, alias="in", min_length=1, description="keep rows whose value is listed")
    not_in: list[Value] | None = Field(None, min_length=1, description="drop rows whose value is listed")
    min: float | None = Field(None, description="keep rows with value >= min")
    max: float | None = Field(None, description="keep rows with value <= max")

    @model_validator(mode="after")
    def _something(self) -> ColumnCondition:
        if self.in_ is None and self.not_in is None and self.min is None and self.max is None:
            raise ValueError("a column condition needs `in`, `not_in`, `min` or `max`")
        return self


class AudienceFilter(Strict):
    """Who is in a named audience: every condition must hold; `{}` selects everyone scored at the date.

    Conditions on order history use orders at or before the score date only. Values are passed to the
    database as parameters, never pasted into SQL.
    """

    columns: dict[str, ColumnCondition] = Field(
        default_factory=dict,
        description="segment-table column -> condition, e.g. `rfm_segment: {in: [Champions]}`, "
        "`churn_probability: {min: 0.5}`",
    )
    countries: list[str] | None = Field(None, min_length=1, description="customer's country (most frequent) is listed")
    products: list[str] | None = Field(None, min_length=1, description="bought any of these product ids")
    categories: list[str] | None = Field(None, min_length=1, description="bought in any of these categories")
    bought_within_days: int | None = Field(
        None, gt=0, description="products/categories bought within the last N days before the date"
    )
    order_value: NumberRange | None = Field(None, description="mean gross value of the customer's orders")
    orders: NumberRange | None = Field(None, description="number of purchase orders")
    first_order: DateRange | None = Field(None, description="date of the first purchase order")
    last_order: DateRange | None = Field(None, description="date of the last purchase order")

    @field_validator("columns")
    @classmethod
    def _column_names(cls, v: dict[str, ColumnCondition]) -> dict[str, ColumnCondition]:
        bad = [k for k in v if not re.fullmatch(IDENTIFIER, k)]
        if bad:
            raise ValueError(f"column names must be identifiers (letters, digits, _): {bad}")
        return v

    @model_validator(mode="after")
    def _within(self) -> AudienceFilter:
        if self.bought_within_days is not None and not (self.products or self.categories):
            raise ValueError("`bought_within_days` needs `products` or `categories`")
        return self


class ReplenishmentConfig(Strict):
    """Per-product repurchase intervals and the "due for refill" list written at scoring."""

    enabled: bool = Field(True, description="write the replenishment list at scoring (needs `product_id` mapped)")
    min_customers: int = Field(10, ge=2, description="a product qualifies when this many customers bought it again")
    due_within_days: int = Field(14, gt=0, description="list customers whose refill is due in the next N days")


class CampaignsConfig(Strict):
    """Where campaigns are recorded (beside the segment table, in `output.database_url`)."""

    table: str = Field("campaigns", pattern=IDENTIFIER, description="database table: one row per campaign")
    members_table: str = Field(
        "campaign_members", pattern=IDENTIFIER, description="database table: one row per campaign member"
    )


class SparkConfig(Strict):
    """The Spark session of `engine: spark` (docs/spark.md)."""

    master: str | None = Field(
        None, description="Spark master, e.g. `local[4]`; default: the session spark-submit made, else `local[2]`"
    )
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark settings for a session made here")


class StoreConfig(Strict):
    """The incremental store of clean lines and orders under `output.root` (docs/loading.md, "The store")."""

    enabled: bool = Field(
        True,
        description="keep the clean lines and orders in `<output.root>/store/lines.duckdb` and read only new or "
        "changed source files on the next run (files only: a `data.sql` source is always read in full)",
    )
    rebuild: bool = Field(False, description="rebuild the store from every source file (what `--rebuild` sets)")
    lock_timeout_seconds: float = Field(
        600,
        ge=0,
        description="how long a run waits for another run updating the store; past it, it cleans in memory",
    )


class Config(Strict):
    """The whole run configuration."""

    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="where the SQL runs: `duckdb` (one machine) or `spark` (the `spark` extra)"
    )
    spark: SparkConfig = SparkConfig()
    data: DataConfig
    time: TimeConfig = TimeConfig()
    segments: SegmentsConfig = SegmentsConfig()
    models: ModelsConfig = ModelsConfig()
    value: ValueConfig = ValueConfig()
    tracking: TrackingConfig = TrackingConfig()
    scoring: ScoringConfig = ScoringConfig()
    output: OutputConfig = OutputConfig()
    store: StoreConfig = StoreConfig()
    audiences: dict[str, AudienceFilter] = Field(
        default_factory=dict, description="named audiences exported at scoring: name -> filter (see docs/actions.md)"
    )
    replenishment: ReplenishmentConfig = ReplenishmentConfig()
    campaigns: CampaignsConfig = CampaignsConfig()

    @field_validator("audiences")
    @classmethod
    def _audience_names(cls, v: dict[str, AudienceFilter]) -> dict[str, AudienceFilter]:
        bad = [k for k in v if not re.fullmatch(AUDIENCE_NAME, k)]
        if bad:
            raise ValueError(f"audience names must be letters, digits, _ or - (they name files): {bad}")
        return v

    @model_validator(mode="after")
    def _audience_columns_mapped(self) -> Config:
        mapped = self.data.columns.mapped()
        for name, f in self.audiences.items():
            for key, column in (("products", "product_id"), ("categories", "category"), ("countries", "country")):
                if getattr(f, key) and column not in mapped:
                    raise ValueError(f"audience {name!r} filters on `{key}` but data.columns.{column} is not mapped")
        return self

    @model_validator(mode="after")
    def _exported_attributes_exist(self) -> Config:
        unknown = [a for a in self.output.export_attributes if a not in self.data.customer_attributes]
        if unknown:
            raise ValueError(f"output.export_attributes names {unknown}, not keys of data.customer_attributes")
        return self
