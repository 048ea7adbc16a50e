"""A deterministic synthetic luxury retailer: the demo data every feature is tried on.

``generate_demo(customers, seed, out_dir)`` writes one file per table of the data contract
(docs/data-contract.md).  The package has one module per job:

* ``profiles``: the latent customer types, markets and calendar, and the draw of a population;
* ``tables``: products, order lines and the per-customer tables drawn from that population;
* ``campaigns``: two campaigns with a control group and a response lift known by construction
  (``CAMPAIGN_LIFTS``), their response orders added to the order lines;
* ``ledger``: the monthly booking rates, manual journals and the ledger Finance books from the
  order lines, with its documented reconciling items;
* ``writer``: Parquet or CSV files, written whole or appended chunk by chunk;
* ``generate``: the order of the draws, in one stream or in chunks of customers.

Everything is vectorised with numpy so 1M customers (~20M order lines) fit in about a minute.
Larger populations are generated in chunks of customers (``chunk_customers``), each appended to
one file per table, so memory is bounded by one chunk rather than the population.  The same
``customers``, ``seed`` and chunk size give byte-identical files.
"""

from __future__ import annotations

from .campaigns import CAMPAIGN_LIFTS, CAMPAIGNS
from .generate import DEFAULT_CHUNK_CUSTOMERS, GenerationReport, generate_demo
from .ledger import book_ledger
from .profiles import REAL_CATEGORIES

__all__ = [
    "CAMPAIGNS",
    "CAMPAIGN_LIFTS",
    "DEFAULT_CHUNK_CUSTOMERS",
    "REAL_CATEGORIES",
    "GenerationReport",
    "book_ledger",
    "generate_demo",
]
