"""Names a person types: cohorts, cohort groups, metrics, sheets, channels, engines.

One rule everywhere (the command line, the UDFs, the workbook): a name matches in any letter
case (``crown jewels`` is the cohort "Crown jewels", ``compare`` the Compare sheet), and a name
that matches nothing is one line naming what was expected, with the closest known name:
``Unknown metric 'aovv'. Did you mean 'aov'?``.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from .errors import ECHO_LIMIT, ProfilerError, clip


class UnknownName(ProfilerError):
    """A name (cohort, metric, sheet, channel...) matches none of the known ones."""


def resolve(given: str, choices: Collection[str], what: str, *, hint: str = "") -> str:
    """The known name ``given`` stands for, matched in any letter case; otherwise
    ``UnknownName``: ``Unknown {what} 'given'.`` with a suggestion, then ``hint``.

    >>> resolve("crown JEWELS", ["Crown jewels", "Buyers"], "cohort")
    'Crown jewels'
    >>> resolve("aovv", ["aov", "net_sales"], "metric")
    Traceback (most recent call last):
    ...
    profiler.names.UnknownName: Unknown metric 'aovv'. Did you mean 'aov'?
    """
    if given in choices:  # the common case, as defined: no scan
        return given
    text = str(given).strip()
    folded = text.casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    suffix = f" {hint}" if hint else ""
    raise UnknownName(f"Unknown {what} '{clip(text)}'.{did_you_mean(text, choices)}{suffix}")


def closest(name: str, known: Collection[str]) -> str | None:
    """The known name closest to ``name`` (in any letter case), or None when none is close."""
    if len(str(name)) > ECHO_LIMIT:  # nothing known is that long; and difflib would take its time
        return None
    by_fold = {str(k).casefold(): str(k) for k in known}
    close = difflib.get_close_matches(str(name).casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def did_you_mean(name: str, known: Collection[str]) -> str:
    """`` Did you mean 'x'?`` for the known name closest to ``name`` (``closest``), or ``''``
    when none is close."""
    found = closest(name, known)
    return f" Did you mean '{found}'?" if found else ""
