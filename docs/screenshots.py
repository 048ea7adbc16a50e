"""Render the profiler's main sheets to PNG for the README (LibreOffice -> PDF -> pdftoppm).

Usage: python docs/screenshots.py WORKBOOK [--out docs/img] [--customer ID]
(WORKBOOK: e.g. demo_output/Customer_Profiler.xlsm written by 'bash run.sh demo')

The Customer sheet is shown filled in: a copy of the workbook beside it gets the customer id
(default: the customer with the most orders in the last 12 months) and its Customer sheet is
refreshed headlessly, personal data off, before LibreOffice renders it; the copy is removed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

SHEETS = [
    "Summary",
    "Deep Dive",
    "Compare",
    "Retention",
    "Dashboard",
    "Migration",
    "Potential Value",
    "Customer",
]


def with_customer(workbook: Path, customer: str | None) -> Path:
    """A copy of ``workbook`` beside it (its relative settings still hold) whose Customer sheet
    shows one customer, refreshed as 'Refresh this sheet' does; personal data stays off."""
    from openpyxl import load_workbook

    from profiler.query import QueryEngine
    from workbook.book import FileBook, folder_setting
    from workbook.content import load_layout
    from workbook.inputs import input_cells
    from workbook.macros import extras_for, refresh_sheet

    copy = workbook.with_name(f".screenshot-{workbook.name}")
    shutil.copyfile(workbook, copy)
    engine = QueryEngine.open(folder_setting(FileBook(copy), "PROFILER_CAR"))
    if customer is None:
        car = engine.ensure_columns(["orders_l12m"])
        customer = str(car.loc[car["orders_l12m"].idxmax(), "customer_id"])
    book = load_workbook(copy, keep_vba=True)
    sheet, cell, _ = input_cells(load_layout())["CustomerId"]
    book[sheet][cell] = customer
    book.save(copy)
    data = folder_setting(FileBook(copy), "PROFILER_DATA")  # as "profiler refresh" reads it
    refresh_sheet(FileBook(copy), engine, "Customer", extras=extras_for(engine, data))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workbook")
    parser.add_argument("--out", default=str(Path(__file__).parent / "img"))
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument("--customer", help="customer id shown on the Customer sheet")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workbook = with_customer(Path(args.workbook), args.customer)
    try:
        render(workbook, out, args.dpi)
    finally:
        workbook.unlink(missing_ok=True)


def render(workbook: Path, out: Path, dpi: int) -> None:
    """Each sheet of SHEETS as the PNG of its first printed page."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                "soffice",
                "--headless",
                "--norestore",
                f"-env:UserInstallation=file://{tmp}/profile",
                "--convert-to",
                "pdf",
                "--outdir",
                tmp,
                str(workbook),
            ],
            check=True,
            capture_output=True,
        )
        pdf = Path(tmp) / (workbook.stem + ".pdf")
        pages = int(
            next(
                line.split()[-1]
                for line in subprocess.run(
                    ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
                ).stdout.splitlines()
                if line.startswith("Pages:")
            )
        )
        first_page: dict[str, int] = {}
        for page in range(1, pages + 1):
            text = subprocess.run(
                ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for sheet in SHEETS:
                if f"Customer Profiler — {sheet}" in text.splitlines()[0] if text else False:
                    first_page.setdefault(sheet, page)
        for sheet, page in first_page.items():
            stem = Path(tmp) / "page"
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    str(dpi),
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(pdf),
                    str(stem),
                ],
                check=True,
            )
            target = out / f"{sheet.lower().replace(' ', '-')}.png"
            shutil.move(f"{stem}.png", target)
            print(target)


if __name__ == "__main__":
    main()
