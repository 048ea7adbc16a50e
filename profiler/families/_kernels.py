"""Compiled per-customer aggregation for the sales grids (numba).

Vectorised numpy needed a large (customers x levels x time bins) intermediate per measure and
was bound by memory traffic and page faults at a million customers.  Fact lines are sorted by
customer, then order, so one pass can accumulate a customer's grid in a small buffer that stays
in cache and write it out when the next customer starts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Summed measures, in the order of the kernel's inputs.
SUMMED = (
    "spend",
    "units",
    "lines",
    "gross_spend",
    "full_price_spend",
    "returns_value",
    "returned_lines",
    "cancelled_value",
    "cancelled_lines",
)
# The summed measures that are money: summed in whole pence (exact in a double below 2**53).
MONEY = ("spend", "gross_spend", "full_price_spend", "returns_value", "cancelled_value")


BLOCK = 512  # customers accumulated in cache before being written out


@njit(cache=True, nogil=True)
def _flush(blk, oblk, money_out, count_out, orders_out, start, n, count_orders):  # noqa: ANN001, ANN202
    """Write a block of customers' cells out (sequentially per cell) and clear the block.  The
    block's first slots are the money measures (``money_out``), the rest counts (``count_out``,
    rounded to its type once: whole numbers below 2**24 are exact in float32)."""
    n_money, n_periods, n_levels = money_out.shape[0], money_out.shape[1], money_out.shape[2]
    n_slots = n_money + count_out.shape[0]
    stop = min(start + blk.shape[0], n)
    for s_ in range(n_slots):
        for p in range(n_periods):
            for lv in range(n_levels):
                cell = (s_ * n_periods + p) * n_levels + lv
                if s_ < n_money:
                    for c in range(start, stop):
                        money_out[s_, p, lv, c] = blk[c - start, cell]
                        blk[c - start, cell] = 0.0
                else:
                    for c in range(start, stop):
                        count_out[s_ - n_money, p, lv, c] = blk[c - start, cell]
                        blk[c - start, cell] = 0.0
    if count_orders:
        for p in range(n_periods):
            for lv in range(n_levels):
                cell = p * n_levels + lv
                for c in range(start, stop):
                    orders_out[p, lv, c] = oblk[c - start, cell]
                    oblk[c - start, cell] = 0.0


@njit(cache=True, nogil=True)
def grid_sums(
    cust,
    order,
    codes,
    bins,
    net_pence,
    qty,
    gross_pence,
    full_price,
    kept,
    returned,
    cancelled,
    slots,
    bin_periods,
    bin_period_count,
    n,
    money_out,
    count_out,
    orders_out,
    count_orders,
):  # noqa: ANN001, ANN201
    """Accumulate the summed measures (and orders) of one grid.

    ``slots[m]`` is the slot of ``SUMMED[m]`` (-1: not wanted): slots below
    ``len(money_out)`` are money, summed in whole pence into money_out[slot, period, level,
    customer] (float64: a sum of whole pence is exact in a double below 2**53 pence); the others
    are counts, into count_out[slot - len(money_out), ...].  orders_out[period, level, customer]
    counts orders with a kept line in the level.  Lines must be sorted by customer, then order.
    Every cell of the outputs (orders_out when counting orders) is written, so they may start
    uninitialised.
    """
    n_periods, n_levels = money_out.shape[1], money_out.shape[2]
    n_slots = money_out.shape[0] + count_out.shape[0]
    blk = np.zeros((BLOCK, n_slots * n_periods * n_levels))
    oblk = np.zeros((BLOCK, n_periods * n_levels))
    seen = np.zeros(n_levels, dtype=np.bool_)
    start = 0
    current_order = -1
    values = np.empty(9)
    for i in range(len(cust)):
        c = cust[i]
        while c >= start + BLOCK:
            _flush(blk, oblk, money_out, count_out, orders_out, start, n, count_orders)
            start += BLOCK
        if order[i] != current_order:
            current_order = order[i]
            seen[:] = False
        lv = codes[i]
        if lv < 0:
            continue
        r = c - start
        b = bins[i]
        k_i = kept[i]
        values[0] = net_pence[i] if k_i else 0.0
        values[1] = qty[i] if k_i else 0.0
        values[2] = 1.0 if k_i else 0.0
        values[3] = gross_pence[i] if k_i else 0.0
        values[4] = net_pence[i] if (k_i and full_price[i]) else 0.0
        values[5] = net_pence[i] if returned[i] else 0.0
        values[6] = 1.0 if returned[i] else 0.0
        values[7] = net_pence[i] if cancelled[i] else 0.0
        values[8] = 1.0 if cancelled[i] else 0.0
        for j in range(bin_period_count[b]):
            p = bin_periods[b, j]
            for m in range(9):
                s_ = slots[m]
                if s_ >= 0:
                    blk[r, (s_ * n_periods + p) * n_levels + lv] += values[m]
        if count_orders and k_i and not seen[lv]:
            seen[lv] = True
            for j in range(bin_period_count[b]):
                oblk[r, bin_periods[b, j] * n_levels + lv] += 1.0
    while start < n:
        _flush(blk, oblk, money_out, count_out, orders_out, start, n, count_orders)
        start += BLOCK
