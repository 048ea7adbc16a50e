"""Render the profiler's main sheets to PNG for the README (LibreOffice -> PDF -> pdftoppm).

Usage: python docs/screenshots.py WORKBOOK [--out docs/img]
(WORKBOOK: e.g. demo_output/Customer_Profiler.xlsm written by 'bash run.sh demo')
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

SHEETS = ["Summary", "Deep Dive", "Compare", "Retention", "Dashboard", "Potential Value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workbook")
    parser.add_argument("--out", default=str(Path(__file__).parent / "img"))
    parser.add_argument("--dpi", type=int, default=70)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
                args.workbook,
            ],
            check=True,
            capture_output=True,
        )
        pdf = Path(tmp) / (Path(args.workbook).stem + ".pdf")
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
                    str(args.dpi),
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
