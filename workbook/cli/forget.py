"""``profiler forget``: the right to erasure.  The ids go on the data folder's erasure list
(hashed), so every later build withholds them; they are purged from the campaign register and
the audience files the CAR folder registered; the CAR folder is rebuilt (or marked) and its
older generations, which hold them, are removed.  Aggregates in the ledger are untouched."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click


@click.command(
    "forget",
    short_help="erase customers: withheld from every build, purged from the outputs",
    epilog="""\b
Example:
  profiler forget --customers erase.csv --data data/ --car car/""",
)
@click.option(
    "--customers",
    required=True,
    metavar="FILE",
    help="CSV with a customer_id column, or one id per line",
)
@click.option("--data", metavar="DIR", help="source data folder (default: $PROFILER_DATA)")
@click.option("--car", metavar="DIR", help="CAR folder (default: $PROFILER_CAR)")
@click.option(
    "--no-rebuild",
    is_flag=True,
    help="do not rebuild: mark the CAR folder so it is refused until the next build",
)
def forget(customers: str, data: str | None, car: str | None, no_rebuild: bool) -> None:
    """Erase the customers in FILE from the data folder's builds and from the CAR folder."""
    from profiler import data_rights, managed, store
    from profiler.errors import UsageError

    data = data or os.environ.get("PROFILER_DATA")
    car = car or os.environ.get(store.CAR_ENV)
    if not data:
        raise UsageError("No data folder given: pass --data DIR or set PROFILER_DATA.")
    data_dir = Path(data)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: no such data folder.")
    ids = data_rights.read_ids(customers)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    new = data_rights.add_erasures(data_dir, ids, today)
    erased = {data_rights.customer_hash(i) for i in ids}
    click.echo(
        f"Erasure list {data_dir / data_rights.ERASURES}: {new:,} added, "
        f"{len(ids) - new:,} already there (stored hashed); every build withholds them"
    )
    campaigns = data_dir / "campaigns.csv"
    removed = data_rights.purge_file(campaigns, erased)
    if removed is not None:
        click.echo(f"Campaign register {campaigns}: {removed:,} rows removed")
    if not car:
        click.echo("No CAR folder given (--car or PROFILER_CAR): nothing else purged")
        return
    folder = Path(car)
    gone = set()
    for entry in managed.registered(folder):
        removed = data_rights.purge_file(Path(entry["path"]), erased)
        if removed is None:
            gone.add(entry["path"])
            click.echo(f"Audience file {entry['path']}: moved or deleted, skipped")
        else:
            click.echo(f"Audience file {entry['path']}: {removed:,} rows removed")
    if gone:
        managed.forget_entries(folder, gone)
    if store.current_name(folder) is None:
        click.echo(f"CAR folder {folder}: no build there, nothing to rebuild")
    elif no_rebuild:
        older = store.drop_older(folder)
        store.mark_erased(folder, today)
        click.echo(
            f"CAR folder {folder}: {len(older)} older generation(s) removed; marked: it is "
            "refused until the next 'profiler build'"
        )
    else:
        # Marked first: if the rebuild fails, the folder is refused rather than left holding them.
        store.mark_erased(folder, today)
        _rebuild(folder, data_dir)
    click.echo("Aggregates in the ledger are untouched (they hold no customer ids)")


def _rebuild(folder: Path, data_dir: Path) -> None:
    """The current generation again from DATA at the same as-of date, keeping no older one."""
    import json

    import profiler
    from profiler import store
    from profiler.errors import ProfilerError

    pointer = json.loads((folder / store.POINTER).read_text())
    meta = json.loads((folder / pointer["current"] / store.META.name).read_text())
    engine = meta.get("engine", "auto")
    if engine == "spark":  # the engines give identical CARs; Spark needs its master
        engine = "auto"
    features = meta.get("features")  # the definitions it was built with (default: packaged)
    if features and not Path(features).is_file():
        raise ProfilerError(
            f"CAR folder {folder} was built with features {features}, which is gone: it is "
            "refused until 'profiler build --features FILE' rebuilds it."
        )
    older = store.generations(folder)
    result = profiler.build(
        data_dir, folder, as_of=meta.get("as_of"), engine=engine, features=features, keep=1
    )
    click.echo(
        f"CAR folder {folder}: rebuilt as of {result.as_of:%Y-%m-%d} ({result.engine}, "
        f"{len(result.customer_ids):,} customers); {len(older)} older generation(s) removed"
    )
