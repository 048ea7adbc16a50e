"""The sources as they stood at the end of a day D, cut independently of the engine.

What "truncated to D" means, table by table (docs/data-contract.md, "As of a date"):

- order_lines: lines ordered after D removed; a line returned after D is a completed line with
  no return date (the return had not happened); cancelled lines carry no date and stay;
- surveys, interactions: rows dated after D removed;
- preferences (consent_updated_at), accounts (as_of): rows dated after D removed, undated kept
  (and a preferences row objecting to profiling: an objection applies at any date);
- customers: records created after D removed, except those of customers who bought by D (the
  record describes a person who existed; migrations date records after their purchases);
- products, enrichment: no date, kept as they are;
- ledger, fx_rates, journals: Finance's months after D's month removed.
"""

from __future__ import annotations

import pandas as pd

from profiler.loading import SourceData


def truncate(source: SourceData, as_of: str) -> SourceData:
    """The sources as they stood at the end of day ``as_of`` (see the module docstring)."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    month = f"{pd.Timestamp(as_of):%Y-%m}"
    t = {k: v.copy() for k, v in source.tables.items()}
    lines = t["order_lines"]
    lines = lines[lines["ordered_at"] < end].copy()
    late = lines["returned_at"] >= end
    lines.loc[late, "status"] = "completed"
    lines.loc[late, "returned_at"] = pd.NaT
    t["order_lines"] = lines.reset_index(drop=True)
    for name in ("interactions", "surveys"):
        if name in t:
            t[name] = t[name][t[name]["at"] < end]
    for name, column in (("preferences", "consent_updated_at"), ("accounts", "as_of")):
        if name in t:
            keep = t[name][column].isna() | (t[name][column] < end)
            if name == "preferences" and "profiling_opt_out" in t[name]:
                # An objection to profiling is honoured by a build of any date (the preferences
                # family still hides the row's consent dated after D): it stays.
                keep |= t[name]["profiling_opt_out"].astype("boolean").fillna(False)
            t[name] = t[name][keep.to_numpy(dtype=bool)]
    if "customers" in t:
        customers = t["customers"]
        t["customers"] = customers[
            (customers["created_at"] < end) | customers["customer_id"].isin(lines["customer_id"])
        ]
    for name in ("ledger", "fx_rates", "journals"):
        if name in t:
            t[name] = t[name][t[name]["period"].astype(str) <= month]
    return SourceData(t, source.quarantine, source.reports, source.data_dir)
