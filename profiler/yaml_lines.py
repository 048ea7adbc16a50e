"""YAML read with the line of every value, and pydantic's complaints turned into one line each.

The templates (features.yaml, columns.yaml) are data that people edit; a mistake in one should
say where it is (``templates/features.yaml:42: ...``), not print a traceback.  ``load`` gives
the plain data (what ``yaml.safe_load`` gives) and a table from each value's path (mapping keys
and list indices, as pydantic's error locations spell them) to its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .names import did_you_mean  # re-exported: the templates' modules import it from here

Path_ = tuple[str | int, ...]
# libyaml's parser when PyYAML has it (about ten times the pure-Python one): the same nodes.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def shown_path(path: Path) -> str:
    """The path as errors name it: relative to the project when inside it."""
    try:
        return str(path.resolve().relative_to(TEMPLATES.parent))
    except ValueError:
        return str(path)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with ``SafeLoader``."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)


class Lines:
    """The line of each value of a YAML file, by path; ``of`` falls back to the nearest parent
    (a missing key is reported on its mapping's line)."""

    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def of(self, path: Iterable[str | int]) -> int:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Iterable[str | int]) -> str:
        return f"{self.file}:{self.of(path)}"


def load(path: Path, shown: str | None = None) -> tuple[Any, Lines]:
    """The file's data and the line of each of its values.  ``shown`` is how errors name the
    file (default: the path as given).  Raises ``ValueError`` with a one-line message when the
    file cannot be read or is not YAML."""
    shown = shown or str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{shown}: cannot be read ({exc.strerror}).") from None
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark else shown
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{where}: not valid YAML ({problem}).") from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    data = _walk(yaml.SafeLoader(""), node, (), lines) if node is not None else None
    return data, Lines(shown, lines)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # '<<' merge keys, as safe_load does
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            out[key] = _walk(loader, value_node, (*path, str(key)), lines)
            lines[(*path, str(key))] = (
                key_node.start_mark.line + 1
            )  # the key's line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


class Strict(BaseModel):
    """A template section: unknown keys are refused, naming the keys it takes (a typo in a key
    is an error with its line, not a setting silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}'.{hint} Expected: {known}.",
                        {
                            "key": str(key),
                            "hint": did_you_mean(key, known),
                            "known": ", ".join(known),
                        },
                    )
        return data


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def first_problem(exc: ValidationError, lines: Lines) -> str:
    """pydantic's first complaint as ``file:line: where: what was expected`` (one line), with
    how many more there are."""
    errors = exc.errors(include_url=False)
    e = errors[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))  # drop union tags
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if e["type"] == "unknown_key":
        key = e["ctx"]["key"]
        return f"{lines.where((*loc, key))}: {_dotted(loc) or 'top level'}: {e['msg']}{more}"
    if e["type"] == "missing":
        parent, field = loc[:-1], loc[-1]
        return f"{lines.where(parent)}: {_dotted(parent) or 'top level'}: missing '{field}'.{more}"
    value = e.get("input")
    if e["type"] == "literal_error":
        expected = e["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return (
            f"{lines.where(loc)}: {_dotted(loc)}: expected one of {expected} (got {value!r}).{more}"
        )
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    msg = e["msg"].removeprefix("Value error, ")
    return f"{lines.where(loc)}: {_dotted(loc)}: {msg} (got {shown}).{more}"
