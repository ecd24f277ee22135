"""Transactions of the sample company: purchases (sell-out and direct sell-in), calls,
A&P spend and field surveys. Vectorised over a chunk of outlets / accounts at a time.

Planted route-to-market patterns (written to the ground truth by the generator):

- calls: ~4% of active CRM accounts are *over-served* (small, low-potential accounts that
  their field rep visits 24-40 times a year) and ~4% *under-served* (top-15% potential,
  low share, 0-1 calls a year): plant_call_patterns;
- A&P: the sell-out uplift after an account's first spend depends on the spend type
  (AP_UPLIFT); pos_material has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.sample.util import Window, random_days
from orchestration.sample.world import (
    BAR,
    CONV,
    ETAIL,
    HYPER,
    OPPORTUNIST,
    PROMO_MONTHS,
    SPEC,
    SUPER,
    WHOLE,
    Outlets,
    Products,
    expected_monthly_value,
)

# Calibrated so that the default company has ~100 sell-out lines per outlet over 24 months.
LINE_SCALE = 2.1
AVERAGE_BOTTLE_PRICE = 22.0


@dataclass
class Purchases:
    """Line-level arrays of one chunk, sorted by (month, day, order, line)."""

    outlet: np.ndarray  # outlet index
    month: np.ndarray
    day: np.ndarray  # datetime64[D]
    order: np.ndarray  # order number inside the chunk (0..n_orders-1)
    line_no: np.ndarray  # line number inside its order, from 1
    sku: np.ndarray  # product index
    bottles: np.ndarray  # signed bottles
    unit_price: np.ndarray  # EUR per bottle, before rounding of the amount
    order_outlet: np.ndarray  # per order
    order_month: np.ndarray
    order_day: np.ndarray
    order_choice: np.ndarray  # per order uniform draw (used to pick a distributor)


def simulate_purchases(
    rng: np.random.Generator,
    o: Outlets,
    idx: np.ndarray,
    window: Window,
    products: Products,
    price_factor: np.ndarray,
    case_buyers: np.ndarray | None = None,
) -> Purchases:
    """Monthly buying of outlets `idx` (price_factor: per outlet multiplier of list price).

    Each month an outlet buys with a probability set by its purchase pattern (loyal,
    occasional, opportunist: the latter mostly in promotion months and at a discount); the
    expected value of the month (potential x share x seasonality x trend) is spread over
    orders and lines, one product of the outlet's assortment per line."""
    n, m = len(idx), window.months
    value = expected_monthly_value(o, idx, window)
    yearly = o.potential[idx] * o.share[idx]
    size_f = np.clip((yearly / 2000.0) ** 0.35, 0.25, 1.0)
    pattern = o.pattern[idx]
    p = (np.array([0.92, 0.45, 0.22])[pattern] * size_f)[:, None] * np.ones((1, m))
    promo_month = np.isin(window.calendar_month, PROMO_MONTHS)
    opp = pattern == OPPORTUNIST
    p[opp] = np.where(promo_month[None, :], np.minimum(0.9, p[opp] * 3.0), p[opp] * 0.45)
    buy = (rng.random((n, m)) < p) & (value > 0)
    oi, mi = np.nonzero(buy)
    cond_value = value[oi, mi] / p[oi, mi]
    k = o.assort_k[idx][oi]
    bottles_expected = cond_value / (AVERAGE_BOTTLE_PRICE * price_factor[oi])
    lam = np.maximum(0.0, LINE_SCALE * bottles_expected**0.65 - 1.0)
    n_lines = 1 + rng.poisson(lam)
    n_lines = np.minimum(n_lines, np.minimum(60, k * 6))
    n_orders = 1 + rng.binomial(n_lines - 1, 0.3)
    n_orders = np.maximum(n_orders, -(-n_lines // k))
    n_orders = np.minimum(n_orders, n_lines)

    cells = len(oi)
    order_start = np.concatenate([[0], np.cumsum(n_orders)[:-1]]).astype(np.int64)
    total_orders = int(n_orders.sum())
    ord_cell = np.repeat(np.arange(cells), n_orders)
    starts = window.starts[mi[ord_cell]]
    days = window.days[mi[ord_cell]]
    order_day = random_days(rng, starts, days, weekdays_only=False)
    order_offset = rng.geometric(0.35, total_orders) - 1
    order_choice = rng.random(total_orders)

    line_start = np.concatenate([[0], np.cumsum(n_lines)[:-1]]).astype(np.int64)
    total_lines = int(n_lines.sum())
    line_cell = np.repeat(np.arange(cells), n_lines)
    j = np.arange(total_lines) - line_start[line_cell]
    o_count = n_orders[line_cell]
    order_local = j % o_count
    q = j // o_count
    line_order = order_start[line_cell] + order_local
    kk = k[line_cell]
    pos = (order_offset[line_order] + q) % kk
    outlet_local = oi[line_cell]
    sku = o.assort[idx[outlet_local], pos].astype(np.int64)
    month = mi[line_cell]
    keep = products.available[month, sku]

    promo = opp[outlet_local] & promo_month[month]
    unit_price = products.list_price[sku] * price_factor[outlet_local] * np.where(promo, 0.85, 1.0)
    # The month's value is spread over the lines whose product is on sale that month.
    on_sale = np.bincount(line_cell, weights=keep, minlength=cells)
    line_value = (
        cond_value[line_cell]
        / np.maximum(1.0, on_sale[line_cell])
        * rng.lognormal(-0.1, 0.45, total_lines)
    )
    raw = line_value / unit_price
    # Stochastic rounding keeps the expected value; lines rounded to nothing are dropped.
    bottles = (np.floor(raw) + (rng.random(total_lines) < (raw - np.floor(raw)))).astype(np.int64)
    bpc = products.bottles_per_case[sku]
    by_case = (bottles >= bpc) & (rng.random(total_lines) < 0.6)
    bottles = np.where(
        by_case, np.maximum(1, np.round(bottles / bpc)).astype(np.int64) * bpc, bottles
    )
    if case_buyers is not None:
        # big-box buyers order whole cases only
        cases = np.floor(raw / bpc + rng.random(total_lines)).astype(np.int64)
        bottles = np.where(case_buyers[outlet_local], cases * bpc, bottles)
    bottles = np.minimum(bottles, 6000 // bpc * bpc)
    returns = rng.random(total_lines) < 0.005
    bottles = np.where(returns, -np.minimum(bottles, 1 + rng.poisson(1.0, total_lines)), bottles)

    sel = np.flatnonzero(keep & (bottles != 0))
    sort = np.lexsort((j[sel], line_order[sel], order_day[line_order[sel]], month[sel]))
    sel = sel[sort]
    # Renumber lines inside each order after dropping unavailable products.
    lo = line_order[sel]
    first = np.ones(len(sel), dtype=bool)
    first[1:] = lo[1:] != lo[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(sel)), 0))
    line_no = np.arange(len(sel)) - group_start + 1
    return Purchases(
        outlet=idx[outlet_local[sel]],
        month=month[sel],
        day=order_day[lo],
        order=lo,
        line_no=line_no,
        sku=sku[sel],
        bottles=bottles[sel],
        unit_price=unit_price[sel],
        order_outlet=idx[oi[ord_cell]],
        order_month=mi[ord_cell],
        order_day=order_day,
        order_choice=order_choice,
    )


# ---------------------------------------------------------------------------------------
RESOURCE_TYPES = ("key_account_manager", "field_rep", "telesales", "distributor_rep")
CONTACT_MODES = ("visit", "phone", "email", "video")
MODE_PROBS = np.array(
    [
        [0.55, 0.22, 0.08, 0.15],  # key_account_manager
        [0.82, 0.12, 0.06, 0.00],  # field_rep
        [0.00, 0.85, 0.15, 0.00],  # telesales
        [0.90, 0.10, 0.00, 0.00],  # distributor_rep
    ]
)
OUTCOMES = ("order", "no_order", "follow_up", "listing", "complaint", "")
OUTCOME_P = np.array([0.35, 0.30, 0.20, 0.07, 0.03, 0.05])
CALL_SEASON = np.array([0.95, 1.05, 1.1, 1.05, 1.0, 1.05, 0.8, 0.45, 1.15, 1.15, 1.1, 0.85])


def call_rates(
    rng: np.random.Generator,
    value: np.ndarray,
    potential: np.ndarray,
    has_owner: np.ndarray,
    inactive: np.ndarray,
    is_dup: np.ndarray,
) -> np.ndarray:
    """Yearly calls per CRM row: VIP often, many small never, with some mis-targeting."""
    n = len(value)
    if n == 0:
        return np.zeros(0)
    rank = np.argsort(np.argsort(value, kind="stable"), kind="stable") / max(1, n - 1)
    rate = np.where(
        rank >= 0.95,
        rng.uniform(24, 48, n),
        np.where(
            rank >= 0.75,
            rng.uniform(10, 18, n),
            np.where(rng.random(n) < 0.4, 0.0, rng.uniform(1, 10, n)),
        ),
    )
    # Habit beats analysis: 15% of accounts get somebody else's call rate.
    mis = rng.random(n) < 0.15
    rate = np.where(mis, rate[rng.permutation(n)], rate)
    prospect = (value == 0) & (potential > np.quantile(potential, 0.7))
    rate = np.where(prospect, rate * 0.5, rate)
    rate = rate * np.where(has_owner, 1.0, 0.3) * np.where(inactive, 0.15, 1.0)
    rate = rate * np.where(is_dup, 0.5, 1.0)
    return rate


def call_counts(rng: np.random.Generator, rate: np.ndarray, window: Window) -> np.ndarray:
    season = CALL_SEASON[window.calendar_month - 1]
    return rng.poisson(rate[:, None] / 12.0 * season[None, :])


NO_PATTERN, OVER_SERVED, UNDER_SERVED = 0, 1, 2
CALL_PATTERNS = ("", "over_served", "under_served")
CALL_PATTERN_SHARE = 0.04


def _rank(x: np.ndarray) -> np.ndarray:
    """Rank of each value in [0, 1] (ties broken by position)."""
    return np.argsort(np.argsort(x, kind="stable"), kind="stable") / max(1, len(x) - 1)


def plant_call_patterns(
    rng: np.random.Generator,
    rate: np.ndarray,
    potential: np.ndarray,
    share: np.ndarray,
    eligible: np.ndarray,
    field_owner: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Override the call rate of two planted groups among the `eligible` CRM rows (active,
    not duplicates), each ~CALL_PATTERN_SHARE of them:

    - over_served: yearly brand value (potential x share) in the bottom 40% and potential
      below the median, owned by a field rep, who visits them 24-40 times a year;
    - under_served: category potential in the top 15% and share below the median, called
      0 or 1 time a year.

    Returns (rate, pattern) with pattern NO_PATTERN / OVER_SERVED / UNDER_SERVED per row."""
    rate = rate.copy()
    pattern = np.zeros(len(rate), dtype=np.int8)
    base = np.flatnonzero(eligible)
    if len(base) < 20:
        return rate, pattern
    k = int(round(CALL_PATTERN_SHARE * len(base)))
    value_r = _rank(potential[base] * share[base])
    pot_r = _rank(potential[base])
    share_r = _rank(share[base])
    over_pool = base[(value_r < 0.4) & (pot_r < 0.5) & field_owner[base]]
    under_pool = base[(pot_r >= 0.85) & (share_r < 0.5)]
    over = rng.permutation(over_pool)[:k]
    under = rng.permutation(under_pool)[:k]
    pattern[over] = OVER_SERVED
    pattern[under] = UNDER_SERVED
    rate[over] = np.round(rng.uniform(24, 40, len(over)), 1)
    rate[under] = rng.integers(0, 2, len(under)).astype(float)
    return rate, pattern


def cap_calls_per_year(counts: np.ndarray, window: Window, cap: int = 1) -> np.ndarray:
    """At most `cap` calls in each 12-month block (blocks counted back from the window's
    last month, so the last 12 months are one block), the earliest ones kept."""
    if not counts.size:
        return counts
    m = counts.shape[1]
    block = (m - 1 - np.arange(m)) // 12
    c = np.minimum(counts, cap)
    before = np.cumsum(c, axis=1) - c  # calls kept in earlier months ...
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    block_start = starts[np.searchsorted(starts, np.arange(m), side="right") - 1]
    before = before - before[:, block_start]  # ... of the same block
    return np.clip(cap - before, 0, c)


def spend_types_for(channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """listing_fee, promotion, pos_material, event, sampling, incentive by channel."""
    probs = np.zeros((len(channel), 6))
    table = {
        HYPER: [0.35, 0.40, 0.10, 0.05, 0.05, 0.05],
        SUPER: [0.30, 0.40, 0.15, 0.05, 0.05, 0.05],
        CONV: [0.05, 0.35, 0.35, 0.05, 0.10, 0.10],
        SPEC: [0.05, 0.20, 0.15, 0.25, 0.30, 0.05],
        BAR: [0.00, 0.10, 0.35, 0.25, 0.10, 0.20],
        ETAIL: [0.30, 0.45, 0.00, 0.05, 0.10, 0.10],
        WHOLE: [0.20, 0.40, 0.10, 0.05, 0.05, 0.20],
    }
    for c, row in table.items():
        probs[channel == c] = row
    cum = np.cumsum(probs, axis=1)
    return np.minimum((rng.random(len(channel))[:, None] >= cum).sum(axis=1), 5)


SPEND_TYPES = ("listing_fee", "promotion", "pos_material", "event", "sampling", "incentive")
# Sell-out uplift (fraction of the account's monthly brand value) from the month of an
# account's first A&P spend on, by its spend type (same order as SPEND_TYPES). Point-of-sale
# material is the planted useless spend.
AP_UPLIFT = np.array([0.22, 0.30, 0.0, 0.25, 0.20, 0.27])
