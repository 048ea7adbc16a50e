"""The CAR's inputs when a SQL engine computes it: no order facts in this process.

``SqlCarContext`` carries what every family may read (D, the definitions, the sources' shape
and side tables, the customers, the columns built so far); the order lines stay in the engine.
The population and the levels present in the data come from the engine too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlglot import exp

from ..car_context import Population
from .engines import SqlEngine
from .facts import FactsShape, car_facts, col, population


@dataclass(kw_only=True)
class SqlCarContext(Population):
    engine: SqlEngine

    def present_values(self, column: str) -> list[str]:
        """Distinct values (as text) of an order-fact column on or before D."""
        key = ("present", column)
        if key not in self.cache:
            value = exp.cast(col(column), "VARCHAR")
            query = (
                exp.select(value.as_("value"))
                .distinct()
                .from_(car_facts(FactsShape.of(self.source), self.as_of).subquery("f"))
                .where(exp.Not(this=exp.Is(this=col(column), expression=exp.null())))
            )
            values = self.engine.run(query).column("value").to_pylist()
            self.cache[key] = sorted(str(v) for v in values)
        return self.cache[key]


def build_sql_context(engine: SqlEngine, source, as_of: pd.Timestamp, spec: dict) -> SqlCarContext:  # noqa: ANN001 (a SourceData)
    """The context of a build on ``engine`` (which must hold the accepted source tables)."""
    who = population(source.has("customers"), as_of).subquery("who")
    ids = engine.run(exp.select(col("customer_id")).from_(who)).column("customer_id")
    customer_ids = np.sort(ids.to_numpy(zero_copy_only=False))
    return SqlCarContext(
        as_of=as_of, spec=spec, source=source, customer_ids=customer_ids, engine=engine
    )
