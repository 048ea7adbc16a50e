"""Imports go one way: the engine never imports Excel libraries, the workbook layer, the UDFs or
the CLI; the UDFs never import the workbook layer; only the CLI imports the CLI; no cycles.

The import graph is read from the source with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` count: an import moved into a function hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import profiler

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("profiler", "workbook", "udfs")
# The command line: one package, the console script's entry point included.
CLI = ("workbook.cli",)


def test_engine_imports_no_excel_library() -> None:
    modules = [f"profiler.{m.name}" for m in pkgutil.iter_modules(profiler.__path__)]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "bad = [m for m in ('xlwings', 'openpyxl', 'xlsxwriter', 'workbook', 'udfs') if m in sys.modules]\n"
            "assert not bad, bad\n"
        )
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the three packages by dotted name (a package by its own name)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of the three packages it imports (anywhere in its source)."""

    def resolve(name: str) -> str:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in found.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    head = f"{base}.{node.module}" if node.module else base
                else:
                    head = node.module or ""
                # ``from p import m`` imports the submodule m when there is one, else p itself
                targets += [f"{head}.{alias.name}" for alias in node.names] or [head]
        graph[module] = {
            target
            for target in map(resolve, targets)
            if target and target != module and target.split(".")[0] in PACKAGES
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out)


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that breaks a layer rule, as 'importer -> imported: rule'."""
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            rule = ""
            if within(module, ("profiler",)) and within(target, ("workbook", "udfs")):
                rule = "the engine never imports the workbook layer, the UDFs or the CLI"
            elif within(module, ("udfs",)) and within(target, ("workbook",)):
                rule = "the UDFs never import the workbook layer"
            elif within(target, CLI) and not within(module, CLI):
                rule = "nothing but the CLI imports the CLI"
            if rule:
                out.append(f"{module} -> {target}: {rule}")
    return out


def test_no_import_cycles() -> None:
    found = cycles(import_graph(modules()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_layer_violations() -> None:
    assert violations(import_graph(modules())) == []


# The checks themselves, on a made-up tree: relative imports, imports inside functions and
# submodules named in ``from p import m`` are edges; a cycle and each rule are reported.
def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    files = {
        "profiler/__init__.py": "",
        "profiler/a.py": "from .b import x\n",
        "profiler/b.py": "def f():\n    from . import a\n",
        "profiler/c.py": "import workbook.book\n",
        "profiler/sub/__init__.py": "",
        "profiler/sub/d.py": "from .. import c\nfrom ..sub import e\n",
        "profiler/sub/e.py": "",
        "udfs/__init__.py": "from workbook import book\n",
        "workbook/__init__.py": "",
        "workbook/book.py": "from workbook.cli import build\n",
        "workbook/cli/__init__.py": "",
        "workbook/cli/build.py": "from profiler.sub import e\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(modules(tmp_path))
    assert graph["profiler.sub.d"] == {"profiler.c", "profiler.sub.e"}
    assert cycles(graph) == [["profiler.a", "profiler.b"]]
    assert [v.partition(":")[0] for v in violations(graph)] == [
        "profiler.c -> workbook.book",
        "udfs -> workbook.book",
        "workbook.book -> workbook.cli.build",
    ]


def test_the_cli_is_where_the_rules_look() -> None:
    """A moved CLI would leave the rule above checking nothing."""
    assert "workbook.cli" in modules()
