"""Errors the engine raises. Adapters catch ``ProfilerError`` once and show its one-line message."""

from __future__ import annotations


class ProfilerError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class NotFittedError(ProfilerError):
    """A model was used before ``fit()`` was called."""


class ContractError(ProfilerError):
    """A source file breaks the data contract as a whole (missing, unreadable, wrong type)."""


class MissingColumns(ContractError):
    """A required column is absent from a source file."""


class UsageError(ProfilerError):
    """A command was called with arguments that cannot work together."""


ECHO_LIMIT = 200  # characters of a user's input repeated in an error message


def clip(text: object, limit: int = ECHO_LIMIT) -> str:
    """``text`` as echoed in an error message: at most ``limit`` characters, and how many more
    were cut (a 1 MB filter must not give 2 MB of error output)."""
    shown = str(text)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(shown) - limit:,} more characters)"


class BusyError(ProfilerError):
    """Another process holds the lock on an output (a CAR folder, a workbook)."""


class LeftOut(ProfilerError):
    """Something defined (a cohort, a metric, a persona feature) that this data cannot provide
    because a source table or column is missing: left out with this reason, never an error of
    the definitions."""


class OutOfMemory(ProfilerError):
    """A build's worker was killed by the system, most likely for want of memory."""
