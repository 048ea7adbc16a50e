"""The SQL backend: the CAR's declarative features and the catalog's metrics, compiled to SQL.

Definitions stay where they are (templates/features.yaml, templates/metrics/); this package
turns them into sqlglot syntax trees, never pasted strings, and an engine renders a tree in its
own dialect and runs it:

- ``engines``: the engine interface and DuckDB (embedded, spills to disk);
- ``spark``: Apache Spark SQL (local mode or a cluster);
- ``facts``: the order facts as of a day, the relation every sales figure starts from;
- ``sales``: the CAR's sales grid (slices x measures x periods);
- ``expr`` and ``metrics``: the expression language and the catalog's metrics per cohort;
- ``render``: one metric printed as one query for a retailer's warehouse (``profiler metrics sql``).
"""
