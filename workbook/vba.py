"""The workbook's VBA project, compiled from sources on every build.

Three sources make it: our macros (``templates/vba/*.bas``, one per button action, each calling
a function of ``workbook.excel`` through ``RunPython``), and xlwings' own standalone module and
its ``Dictionary`` class, read from the pinned xlwings package (``xlwings/xlwings.bas``,
``xlwings/addin/Dictionary.cls``), so ``RunPython`` and ``XLWINGS_VERSION`` always match the
installed Python side.  Every sheet and the workbook get their document module.

``ms-ovba`` writes the MS-OVBA container (source only: Excel compiles the modules when it opens
the file).  It works in the current folder and draws the project's obfuscated protection fields
from Python's ``random``; both are confined here: a temporary folder, a fixed seed (the same
sources give the same bytes), and the caller's random state restored.  Its compressor
(``ms-ovba-compression`` 1.0.1) computes a copy token's maximum length as
``0xFFFF << (bits + 3)`` where MS-OVBA 2.4.1.3.19.3 says ``(0xFFFF >> bits) + 3``, so long
matches overflow into the offset and the text decompresses wrong; the correct rule is put in
place for the compile only, and every stream is checked by decompressing it with oletools.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from profiler.errors import ProfilerError

SOURCES = Path(__file__).resolve().parent.parent / "templates" / "vba"
# Type-library GUIDs of Excel's document modules (MS-OVBA: the module's "Base" attribute).
WORKBOOK_GUID = uuid.UUID("00020819-0000-0000-C000-000000000046")
WORKSHEET_GUID = uuid.UUID("00020820-0000-0000-C000-000000000046")
PROJECT_ID = "{6C7E9E1A-3C35-4F0B-9C1D-5A0F7C2B9E11}"  # fixed: reproducible bytes
SEED = 20260604
# The module header an exported .cls carries and a stored module does not.
_CLS_HEADER = re.compile(r"\AVERSION 1\.0 CLASS\r?\nBEGIN\r?\n(?:.*\r?\n)*?END\r?\n")


def xlwings_sources() -> dict[str, str]:
    """xlwings' standalone VBA module and its Dictionary class, from the installed package."""
    import importlib.util

    spec = importlib.util.find_spec("xlwings")
    if spec is None or spec.origin is None:
        raise ProfilerError("xlwings is not installed: pip install -e . installs the pinned one.")
    folder = Path(spec.origin).parent
    out = {}
    for name, path in (
        ("xlwings", folder / "xlwings.bas"),
        ("Dictionary", folder / "addin" / "Dictionary.cls"),
    ):
        if not path.exists():
            raise ProfilerError(f"{path}: missing from the xlwings package; reinstall it.")
        out[name] = _CLS_HEADER.sub("", path.read_text(encoding="cp1252"))
    return out


def our_sources() -> dict[str, str]:
    """Our standard modules, by VBA name (the file's stem)."""
    return {path.stem: path.read_text(encoding="cp1252") for path in sorted(SOURCES.glob("*.bas"))}


def macro_names() -> list[str]:
    """The public macros of our modules: what a button may be bound to."""
    found = []
    for text in our_sources().values():
        found += re.findall(r"^Public Sub (\w+)\(\)", text, flags=re.MULTILINE)
    return found


@cache
def project_bytes(sheets: int) -> bytes:
    """``vbaProject.bin`` for a workbook of ``sheets`` worksheets with code names Sheet1..SheetN.

    Compiling takes seconds (the compressor is pure Python), so the result is kept in the
    user's cache folder under a hash of everything it is made from; a folder that cannot be
    written only means compiling again next time."""
    import hashlib
    import importlib.metadata

    recipe = [str(sheets), PROJECT_ID, str(SEED)]
    recipe += [importlib.metadata.version(p) for p in ("ms_ovba", "ms_ovba_compression")]
    recipe += [f"{name}\0{text}" for name, text in {**our_sources(), **xlwings_sources()}.items()]
    key = hashlib.sha256("\0".join(recipe).encode("utf-8")).hexdigest()[:20]
    cached = _cache_folder() / f"vbaProject-{key}.bin"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    data = _compile(sheets)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, cached)  # whole or absent: a second process may race us
    except OSError:
        pass
    return data


def _cache_folder() -> Path:
    base = os.environ.get("LOCALAPPDATA") or os.environ.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "customer-profiler"


def _compile(sheets: int) -> bytes:
    try:
        from ms_ovba.Models.Entities.doc_module import DocModule
        from ms_ovba.Models.Entities.module_base import ModuleBase
        from ms_ovba.Models.Entities.reference import Reference
        from ms_ovba.Models.Entities.reference_registered import ReferenceRegistered
        from ms_ovba.Models.Entities.std_module import StdModule
        from ms_ovba.Models.Fields.libid_reference import LibidReference
        from ms_ovba.vbaProject import VbaProject
        from ms_ovba.Views.project_ole_file import ProjectOleFile
    except ImportError:
        raise ProfilerError("ms-ovba is missing: pip install -e . installs it.") from None

    class ClassModule(ModuleBase):
        """A class module (xlwings' Dictionary): listed as Class=, stored like a document."""

        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.type = "Class"

        def pack(self, endien: str, cp_name: str) -> bytes:
            self.type = "Document"  # MODULETYPE 0x0022: class and document modules alike
            try:
                return super().pack(endien, cp_name)
            finally:
                self.type = "Class"

        def normalize_file(self) -> None:
            _copy_crlf(self._file_path, self._file_path + ".new")

    def document(name: str, guid: uuid.UUID, folder: Path) -> DocModule:
        path = folder / f"{name}.cls"
        path.write_text(
            "VERSION 1.0 CLASS\nBEGIN\n  MultiUse = -1  'True\nEND\n"
            f'Attribute VB_Name = "{name}"\n'
            "Attribute VB_GlobalNameSpace = False\nAttribute VB_Creatable = False\n"
            "Attribute VB_PredeclaredId = True\nAttribute VB_Exposed = True\n",
            encoding="cp1252",
        )
        module = DocModule(name)
        module.add_file(str(path))
        module.add_guid(guid)
        module.normalize_file()
        return module

    state = random.getstate()
    with (
        tempfile.TemporaryDirectory(prefix="profiler-vba-") as tmp,
        contextlib.chdir(tmp),
        _checked_compression(),
    ):
        folder = Path(tmp)
        random.seed(SEED)
        try:
            project = VbaProject()
            project.project_id = PROJECT_ID
            project.add_module(document("ThisWorkbook", WORKBOOK_GUID, folder))
            for i in range(1, sheets + 1):
                project.add_module(document(f"Sheet{i}", WORKSHEET_GUID, folder))
            modules = {**our_sources(), **xlwings_sources()}
            for name, text in modules.items():
                path = folder / f"{name}.src"
                path.write_text(text, encoding="cp1252", newline="")
                module = ClassModule(name) if name == "Dictionary" else StdModule(name)
                module.add_file(str(path))
                if isinstance(module, StdModule):
                    _copy_crlf(str(path), str(path) + ".new")
                else:
                    module.normalize_file()
                project.add_module(module)
            for guid, version, library, name in (
                (
                    "00020430-0000-0000-C000-000000000046",
                    "2.0",
                    r"C:\Windows\System32\stdole2.tlb",
                    "stdole",
                ),
            ):
                libid = LibidReference(uuid.UUID(guid), version, "0", library, "OLE Automation")
                project.add_reference(Reference(ReferenceRegistered(libid), name))
            ProjectOleFile.write_file(project)
            return (folder / "vbaProject.bin").read_bytes()
        finally:
            random.setstate(state)


@contextlib.contextmanager
def _checked_compression() -> Iterator[None]:
    """ms-ovba-compression with the specified maximum copy length, and each compressed stream
    decompressed by oletools and compared with its text (a wrong stream stops the build)."""
    from ms_ovba_compression.ms_ovba import MsOvba
    from oletools.olevba import decompress_stream

    original_help, original_compress = MsOvba.copytoken_help, MsOvba.compress

    def copytoken_help(difference: int) -> dict[str, int]:
        help = original_help(difference)
        help["maxLength"] = (0xFFFF >> help["bitCount"]) + 3
        return help

    def compress(self: Any, data: bytes) -> bytes:
        packed = original_compress(self, data)
        if bytes(decompress_stream(bytearray(packed))) != bytes(data):
            raise ProfilerError("The VBA project could not be compressed faithfully (ms-ovba).")
        return packed

    MsOvba.copytoken_help = staticmethod(copytoken_help)  # type: ignore[method-assign]
    MsOvba.compress = compress  # type: ignore[method-assign]
    try:
        yield
    finally:
        MsOvba.copytoken_help = staticmethod(original_help)  # type: ignore[method-assign]
        MsOvba.compress = original_compress  # type: ignore[method-assign]


def _copy_crlf(source: str, target: str) -> None:
    """The module text with CRLF line ends, as VBA stores it."""
    text = Path(source).read_text(encoding="cp1252")
    lines = text.replace("\r\n", "\n").split("\n")
    Path(target).write_bytes("\r\n".join(lines).encode("cp1252"))


def read_modules(data: bytes) -> dict[str, str]:
    """Every module's source text in a VBA project or an .xlsm, read back with oletools."""
    from oletools.olevba import VBA_Parser

    parser = VBA_Parser("workbook.xlsm", data=data)
    try:
        return {stream.rsplit("/", 1)[-1]: code for _, stream, _, code in parser.extract_macros()}
    finally:
        parser.close()
