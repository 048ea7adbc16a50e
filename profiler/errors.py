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
