"""Personas: data-driven behaviour clusters of buyers, reproducible from the CAR alone.

k-means (scipy's ``kmeans2``: Lloyd's algorithm from k-means++ seeds, with a fixed seed) over the
standardised behaviour columns named in templates/cohorts.yaml, fitted on a fixed random sample
of buyers and then used to assign every buyer to its nearest centre (``vq``).  Clusters are numbered by size, largest first, so a name given in the
YAML to persona 1 stays on the same cluster when the same CAR is clustered again.  Each
persona is described by the columns whose mean sets it furthest apart from all buyers (in
standard deviations), which is what a reviewer reads before naming it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2, vq

from .errors import LeftOut


@dataclass
class Personas:
    """Each CAR row's persona name (missing for non-buyers) and each persona's profile."""

    labels: pd.Categorical
    profile: pd.DataFrame  # persona x feature: z-score of the persona's mean against buyers'

    def describe(self, name: str, top: int = 3) -> str:
        """'orders_per_active_month +1.4 sd, q4_share -0.8 sd, ...' for one persona."""
        row = self.profile.loc[name]
        strongest = row.abs().sort_values(ascending=False).index[:top]
        return ", ".join(f"{col} {row[col]:+.1f} sd" for col in strongest)


# Below these, clusters describe noise: personas are left out, with the reason.
MIN_FEATURES = 3
MIN_BUYERS_PER_PERSONA = 20


def fit_personas(car: pd.DataFrame, spec: dict[str, Any]) -> Personas:
    """Cluster the CAR's buyers as the ``personas`` section of the cohort spec says.

    Features the CAR lacks (their source table was not provided) are dropped; the clusters are
    then new ones, so they take generic names ("Persona 1"), not the names reviewed on the full
    feature set.  With fewer than ``MIN_FEATURES`` features or ``MIN_BUYERS_PER_PERSONA`` buyers
    per persona, personas are left out (``LeftOut``)."""
    wanted = list(spec.get("features") or [])
    features = [f for f in wanted if f in car.columns]
    missing = [f for f in wanted if f not in car.columns]
    if len(features) < MIN_FEATURES:
        raise LeftOut(
            f"personas need at least {MIN_FEATURES} behaviour columns of "
            f"templates/cohorts.yaml personas.features; this CAR has {len(features)} "
            f"(missing: {', '.join(missing)})"
        )
    k = int(spec.get("k", 6))
    buyers = _buyers(car)
    if int(buyers.sum()) < k * MIN_BUYERS_PER_PERSONA:
        raise LeftOut(
            f"personas need at least {k * MIN_BUYERS_PER_PERSONA:,} buyers "
            f"({MIN_BUYERS_PER_PERSONA} per persona, k = {k}); this CAR has {int(buyers.sum()):,}"
        )
    names = {} if missing else {int(n): str(v) for n, v in (spec.get("names") or {}).items()}
    x = car.loc[buyers, features].astype(np.float64).to_numpy()
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x) if len(x) else x
    mean, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / np.where(sd > 0, sd, 1.0)
    labels = np.full(len(car), -1)
    if len(z) >= k:
        rng = np.random.default_rng(int(spec.get("seed", 7)))
        sample = z[rng.choice(len(z), min(len(z), int(spec.get("sample", 50000))), replace=False)]
        centres = _kmeans(sample, k, rng)
        assigned, _ = vq(z, centres)
        by_size = np.argsort(-np.bincount(assigned, minlength=k), kind="stable")
        rank = np.empty(k, dtype=int)
        rank[by_size] = np.arange(k)
        labels[np.flatnonzero(buyers)] = rank[assigned]
    titles = [names.get(i + 1, f"Persona {i + 1}") for i in range(k)]
    categorical = pd.Categorical.from_codes(labels, categories=titles, ordered=True)
    profile = pd.DataFrame(z, columns=features).groupby(labels[buyers]).mean()
    profile.index = [titles[i] for i in profile.index]
    return Personas(categorical, profile)


def _buyers(car: pd.DataFrame) -> np.ndarray:
    """The buyers to cluster: not those who objected to profiling (profiler/families/privacy.py),
    whose engagement score the CAR withholds, so they get no persona and do not skew the fit."""
    buyers = np.ones(len(car), dtype=bool)
    if "orders_ltd" in car.columns:
        buyers = (car["orders_ltd"].fillna(0) > 0).to_numpy()
    if "profiling_opt_out" in car.columns:
        buyers = buyers & ~car["profiling_opt_out"].fillna(False).to_numpy(dtype=bool)
    return buyers


# Lloyd's iterations; kmeans2 runs them all (it has no convergence test), which on a sample of
# 50,000 buyers and k = 6 takes a fraction of a second.
ITERATIONS = 100


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster centres of ``x``: Lloyd's algorithm from k-means++ seeds drawn from ``rng``."""
    with warnings.catch_warnings():
        # A cluster left empty keeps its centre (and its persona stays empty): kmeans2 warns
        # "Re-run kmeans with a different initialization", which a reader of the CLI cannot act on.
        warnings.filterwarnings("ignore", message="One of the clusters is empty")
        centres, _ = kmeans2(x, k, iter=ITERATIONS, minit="++", seed=rng)
    return centres
