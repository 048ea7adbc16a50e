"""Linear-time sorts and orderings the CAR build uses instead of comparison sorts: each must
give exactly what numpy's stable sorts give."""

import numpy as np
import pytest

from profiler.families.potential import _sort_order
from profiler.keysort import by_customer_then_order, customer_codes, order_runs, stable_order
from profiler.memory import keep_freed_memory


def test_stable_order_equals_numpy_stable_sorts() -> None:
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 17, 5_000):
        a = rng.integers(0, 40, n)
        b = rng.integers(0, 9, n)
        assert (stable_order(a, 40) == np.argsort(a, kind="stable")).all()
        assert (stable_order(a, 40, stable_order(b, 9)) == np.lexsort((b, a))).all()


def test_stable_order_rejects_keys_out_of_range() -> None:
    with pytest.raises(ValueError, match="0..3"):
        stable_order(np.array([0, 4]), 4)


def test_order_of_transactions_equals_a_full_sort() -> None:
    """Nearly sorted orders (same-time ties in any amount order) and unsorted ones alike."""
    rng = np.random.default_rng(3)
    for trial in range(400):
        n = int(rng.integers(0, 30))
        customer = np.sort(rng.integers(0, 5, n))
        time = rng.integers(0, 4, n).astype("datetime64[D]")
        amount = rng.integers(0, 3, n).astype(float)
        if trial % 2:  # by customer and time already: only ties to order
            by = np.lexsort((time, customer))
            customer, time = customer[by], time[by]
        expected = np.lexsort((amount, time, customer))
        got = _sort_order(customer, time, amount)
        got = np.arange(n) if got is None else got
        for key in (customer, time, amount):
            assert (key[got] == key[expected]).all()


def test_keep_freed_memory_applies_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert keep_freed_memory()


def test_grouping_by_customer_then_order_equals_a_brute_force_sort() -> None:
    """Customers ascending, each order's lines together in the order the orders first
    appear, lines in file order within an order (interleaved orders included)."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(0, 25))
        order = rng.integers(0, 8, n)
        customer = (order * 7) % 5  # an order belongs to one customer
        first_seen = {o: i for i, o in reversed(list(enumerate(order)))}
        expected = sorted(range(n), key=lambda i: (customer[i], first_seen[order[i]], i))
        # dense customer numbers, sparse ones and text ids take different paths
        for ids in (
            customer,
            customer * 10**12,
            np.array([f"c{c}" for c in customer], dtype=object),
        ):
            got = by_customer_then_order(ids, order)
            got = np.arange(n) if got is None else got
            assert got.tolist() == expected


def test_customer_codes_equal_a_brute_force_lookup() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        lines = rng.integers(0, 30, int(rng.integers(0, 20)))
        others = rng.integers(0, 40, int(rng.integers(0, 5)))
        for scale in (1, 10**12):
            ids, codes = customer_codes(lines * scale, others * scale)
            expected = sorted(set((lines * scale).tolist()) | set((others * scale).tolist()))
            assert ids.tolist() == expected
            assert codes.tolist() == [expected.index(v) for v in (lines * scale).tolist()]


def test_loaded_lines_are_grouped_by_customer(tmp_path) -> None:  # noqa: ANN001
    import pandas as pd

    from profiler.loading import load_sources

    lines = pd.DataFrame(
        {
            "order_id": [10, 11, 10, 12, 11],
            "customer_id": [3, 1, 3, 1, 1],
            "ordered_at": pd.to_datetime([f"2024-01-0{d}" for d in (1, 2, 1, 3, 2)]),
            "net_amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    lines.to_csv(tmp_path / "order_lines.csv", index=False)
    loaded = load_sources(tmp_path, today="2025-01-01").tables["order_lines"]
    assert loaded["_row"].tolist() == [2, 5, 4, 1, 3]  # customer 1: order 11, 12; then 3
    assert loaded["net_amount"].tolist() == [2.0, 5.0, 4.0, 1.0, 3.0]


def test_order_runs_group_lines_and_find_each_order() -> None:
    rng = np.random.default_rng(13)
    for _ in range(200):
        n = int(rng.integers(1, 25))
        order = rng.integers(0, 8, n)
        cust = (order * 3) % 4
        if rng.random() < 0.5:  # already grouped by customer, then order
            by = np.lexsort((order, cust))
            order, cust = order[by], cust[by]
        perm, starts = order_runs(cust, order, 4)
        perm = np.arange(n) if perm is None else perm
        c, o = cust[perm], order[perm]
        assert (np.diff(c) >= 0).all()
        runs = np.split(o, starts[1:])
        assert [r[0] for r in runs] == list(dict.fromkeys(o.tolist()))  # one run per order
        assert all((r == r[0]).all() for r in runs)
