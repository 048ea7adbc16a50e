"""Options shared by the commands, defined once (as sqlite-utils does), so a flag means the same
everywhere: ``--car``, ``--period``, ``--from/--to``, ``--as-of``, ``--csv/--json/--raw``,
``--wait`` and the read options of exports.

Dates, periods and names are checked by their option type while the command line is read: a
bad one is one ``Error:`` line and exit status 2, before any file is opened.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import click

from profiler.contract import OPT_IN_CHANNELS
from workbook.cli import output

F = Callable[..., Any]


class OptionError(click.BadParameter):
    """A bad option value, said in one sentence that names the option itself."""

    def format_message(self) -> str:
        return self.message


def _flag(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.name or "value").upper()


class Day(click.ParamType):
    """A day written YYYY-MM-DD (never 09/10/1997, which could be read either way), as a
    ``pd.Timestamp``; ``words`` are accepted as they are (``latest``)."""

    name = "YYYY-MM-DD"

    def __init__(self, words: Sequence[str] = ()) -> None:
        self.words = tuple(words)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from profiler.errors import ProfilerError
        from profiler.periods import day_option

        if not isinstance(value, str):
            return value
        if value.strip().lower() in self.words:
            return value.strip().lower()
        try:
            return day_option(_flag(param), value, iso_only=True)
        except ProfilerError as err:
            raise OptionError(str(err), ctx=ctx, param=param) from None


class PeriodText(click.ParamType):
    """A period in the one grammar of ``profiler/periods.py`` (YYYY-MM, YYYY-Qn, YYYY,
    ytd:YYYY-MM, r12:YYYY-MM, asof), checked here and passed on as written."""

    name = "PERIOD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from profiler.errors import ProfilerError
        from profiler.periods import parse_period

        text = str(value).strip()
        if text.lower() == "asof":
            return "asof"
        try:
            parse_period(text)
        except ProfilerError as err:
            raise OptionError(f"{_flag(param)}: {err}", ctx=ctx, param=param) from None
        return text


class Name(click.ParamType):
    """One of a few fixed names (a channel, an engine, a grain), in any letter case, with
    "did you mean" (``profiler.names.resolve``)."""

    def __init__(self, choices: Sequence[str], what: str) -> None:
        self.choices, self.what = tuple(choices), what
        self.name = "|".join(choices)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"[{self.name}]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from profiler.names import UnknownName, resolve

        try:
            return resolve(str(value), self.choices, self.what)
        except UnknownName as err:
            known = ", ".join(self.choices)
            raise OptionError(
                f"{_flag(param)}: {err} Expected one of {known}.", ctx=ctx, param=param
            ) from None


DAY = Day()
PERIOD = PeriodText()
PERIOD_FORMS = "YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof"
CHANNELS = OPT_IN_CHANNELS  # the channels a customer opts in to (the data contract)


def car_option(
    fn: F | None = None,
    *,
    help: str = "CAR folder written by 'profiler build' (default: $PROFILER_CAR)",
) -> Any:
    """``--car DIR``: the CAR folder to read; without it the engine reads $PROFILER_CAR
    (``QueryEngine.open``) where a command needs a CAR at all."""

    def decorate(f: F) -> F:
        return click.option("--car", metavar="DIR", help=help)(f)

    return decorate(fn) if fn is not None else decorate


def period_option(
    *, default: str | None = "asof", help: str | None = None, required: bool = False
) -> Callable[[F], F]:
    """``--period``: one grammar everywhere (``profiler/periods.py``)."""
    text = help or f"{PERIOD_FORMS} (default: asof, all data to the CAR's date)"
    return click.option(
        "--period",
        type=PERIOD,
        default=None if required else default,
        required=required,
        help=text,
    )


def as_of_option(*, help: str, words: Sequence[str] = ()) -> Callable[[F], F]:
    """``--as-of YYYY-MM-DD``: the day a command sees the data as of."""
    return click.option("--as-of", "as_of", type=Day(words) if words else DAY, help=help)


def from_to_options(*, first: str, last: str) -> Callable[[F], F]:
    """``--from`` and ``--to``: a range of periods (names ``first`` and ``last``)."""

    def decorate(f: F) -> F:
        f = click.option("--to", "last", type=PERIOD, metavar="PERIOD", help=last)(f)
        return click.option("--from", "first", type=PERIOD, metavar="PERIOD", help=first)(f)

    return decorate


RAW_HELP = (
    "with --csv: cells exactly as computed, for machines (by default a cell a spreadsheet "
    "would run as a formula gets a leading single quote)"
)


def output_options(*, csv: bool = True, json: bool = False) -> Callable[[F], F]:
    """``--csv`` (with ``--raw``) and ``--json``: machine output instead of the table.

    ``--csv`` and ``--json`` exclude each other, and ``--raw`` goes only with ``--csv``; the
    command receives ``csv``/``json`` (whichever it has), and ``--raw`` is applied to every
    CSV it prints (``output.print_csv``)."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = kwargs.pop("raw", False)
            if kwargs.get("csv") and kwargs.get("json"):
                raise click.UsageError("--csv and --json cannot be used together.")
            if raw and not kwargs.get("csv"):
                raise click.UsageError("--raw goes with --csv.")
            output.RAW_CSV = raw
            return f(*args, **kwargs)

        g: F = wrapper
        if json:
            g = click.option("--json", is_flag=True, help="print JSON")(g)
        if csv:
            g = click.option("--raw", is_flag=True, help=RAW_HELP)(g)
            g = click.option("--csv", is_flag=True, help="print CSV")(g)
        return g

    return decorate


def raw_file_option(what: str) -> Callable[[F], F]:
    """``--raw`` of a command that writes a CSV file (not one that prints CSV)."""
    return click.option(
        "--raw",
        is_flag=True,
        help=f"write {what} exactly as read (no quote before cells a spreadsheet would run as "
        "formulas): for machines, not people",
    )


def wait_option(target: str) -> Callable[[F], F]:
    """``--wait SECONDS``: how long a writer waits for another one writing ``target``."""
    return click.option(
        "--wait",
        type=float,
        default=0,
        show_default=True,
        metavar="SECONDS",
        help=f"when another command is writing {target}, wait this long for it before giving "
        "up, then say who holds it",
    )


def read_options(f: F) -> F:
    """How the run reads CSV and .xlsx exports when telling it from the files is not enough
    (docs/data-contract.md, "File formats"); set for the run before the command starts."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from profiler import readers

        readers.choose(
            delimiter=kwargs.pop("delimiter"),
            decimal=kwargs.pop("decimal"),
            encoding=kwargs.pop("encoding"),
            date_format=kwargs.pop("date_format"),
            sheet=kwargs.pop("xlsx_sheet"),
        )
        return f(*args, **kwargs)

    options = [
        click.option("--delimiter", help="CSV delimiter: , ; tab or | (default: detected)"),
        click.option("--decimal", help="decimal mark of CSV numbers: . or , (default: detected)"),
        click.option(
            "--encoding", help="CSV encoding, e.g. utf-8, utf-16, cp1252 (default: detected)"
        ),
        click.option(
            "--date-format",
            help="how dates are written, e.g. %d/%m/%Y (default: ISO 8601, or day/month order "
            "proven by the file)",
        ),
        click.option("--xlsx-sheet", help="the sheet of an .xlsx export (default: the first)"),
    ]
    g: F = wrapper
    for option in reversed(options):
        g = option(g)
    return g


def exclusive(given: dict[str, Any]) -> None:
    """At most one of ``given`` (option name -> value) is set."""
    set_ = [name for name, value in given.items() if value not in (None, False)]
    if len(set_) > 1:
        raise click.UsageError(f"{' and '.join(set_)} cannot be used together.")


def insight_area(catalog: Any, area: str | None) -> str | None:
    """A catalog insight area (``--area``), from any letter case; the known areas if none."""
    from profiler.names import resolve

    if area is None:
        return None
    areas = list(dict.fromkeys(m.area for m in catalog.metrics.values()))
    return resolve(area, areas, "area", hint=f"Areas: {', '.join(areas)}.")


def split(text: str | None) -> list[str] | None:
    """'a,b , c' -> ['a', 'b', 'c'] (a list option: cohorts, metrics, fields); names may
    hold spaces but not commas."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def by_option(*, extra: str = "") -> Callable[[F], F]:
    """``--by DIMENSION``: split each metric by one of its declared dimensions (any letter case;
    ``profiler metrics show NAME`` lists them)."""
    return click.option(
        "--by",
        "by",
        metavar="DIMENSION",
        help="break each metric down by this dimension: channel, category, sub_category, "
        "department, price_point, country, month; type or topic for interactions; a CAR column "
        f"(region, value_tier...) or preference_topic for customers{extra}",
    )
