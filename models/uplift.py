"""Statistics of a campaign with a control group: arm assignment, power, and uplift with its uncertainty.

Pure functions, data in and numbers out. The unit is the customer: each member is assigned once, and
members are assumed to respond independently of one another (see docs/actions.md).

- Arms: a member's arm is a function of the campaign name and customer id only (SHA-256), so a re-run
  gives the same arms and a customer never changes arm, whatever else is in the audience.
- Purchase rate: difference of two proportions, normal approximation with the unpooled (Wald) standard
  error for both the interval and the p-value, so "the interval excludes 0" and "p < 0.05" always agree.
- Revenue per member: difference of means with Welch's t (unequal variances, Satterthwaite degrees of
  freedom). Deterministic and fast; revenue is heavy-tailed, which the A/A calibration test checks.
- Minimum detectable effect: the smallest true difference in purchase rate that a two-sided 5 % test
  detects with 80 % power at the given arm sizes and base rate.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

TEST, CONTROL = "test", "control"
ARMS = (TEST, CONTROL)


@dataclass(frozen=True)
class Estimate:
    """An uplift (test minus control) with its two-sided confidence interval and p-value."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        """Plain floats (NaN stays NaN) for JSON."""
        return {k: float(v) for k, v in asdict(self).items()}


NO_ESTIMATE = Estimate(float("nan"), float("nan"), float("nan"), float("nan"))


def arm_hash(campaign: str, customer_id: str) -> float:
    """A uniform number in [0, 1) determined by campaign name and customer id alone."""
    digest = hashlib.sha256(f"{campaign}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arms(campaign: str, customer_ids, control_share: float) -> np.ndarray:
    """`control` where the member's hash falls below `control_share`, else `test`.

    Arm sizes are binomial around the share (not exact), the price of a customer's arm depending on
    nothing but the campaign and the customer.
    """
    if not 0 < control_share < 1:
        raise ValueError(f"control share must be in (0, 1), got {control_share}")
    u = np.fromiter((arm_hash(campaign, str(c)) for c in customer_ids), dtype=float)
    return np.where(u < control_share, CONTROL, TEST).astype(object)


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def min_detectable_effect(
    n_test: int, n_control: int, base_rate: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute difference in purchase rate detectable at these arm sizes (normal approximation).

    MDE = (z_{1-alpha/2} + z_{power}) * sqrt(p (1 - p) (1/n_test + 1/n_control)), with p the base rate
    expected in the control arm. Infinite when an arm is empty.
    """
    if n_test <= 0 or n_control <= 0:
        return float("inf")
    p = min(max(base_rate, 1e-9), 1 - 1e-9)
    z = _z(1 - alpha) + float(stats.norm.ppf(power))
    return float(z * np.sqrt(p * (1 - p) * (1 / n_test + 1 / n_control)))


def diff_proportions(buyers_t: int, n_t: int, buyers_c: int, n_c: int, level: float = 0.95) -> Estimate:
    """Rate(test) - rate(control), Wald interval and two-sided p-value (normal approximation)."""
    if n_t <= 0 or n_c <= 0:
        return NO_ESTIMATE
    p_t, p_c = buyers_t / n_t, buyers_c / n_c
    diff = p_t - p_c
    se = float(np.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c))
    if se == 0:  # both rates 0 or 1: no variation to measure
        return Estimate(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    half = _z(level) * se
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return Estimate(diff, diff - half, diff + half, p)


def welch(test: np.ndarray, control: np.ndarray, level: float = 0.95) -> Estimate:
    """Mean(test) - mean(control) with Welch's t interval and two-sided p-value."""
    x, y = np.asarray(test, dtype=float), np.asarray(control, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return NO_ESTIMATE
    diff = float(x.mean() - y.mean())
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = float(np.sqrt(vx + vy))
    if se == 0:
        return Estimate(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Estimate(diff, diff - half, diff + half, p)


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error), NaN left as NaN: for the per-segment breakdown."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok])]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out
