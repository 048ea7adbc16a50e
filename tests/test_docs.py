"""Documentation generated from code stays equal to the code."""

from __future__ import annotations

from pathlib import Path

from profiler.contract import contract_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_data_contract_doc_matches_the_contract() -> None:
    doc = (ROOT / "docs" / "data-contract.md").read_text()
    generated = contract_markdown()
    assert doc.endswith(generated), (
        "docs/data-contract.md is stale: regenerate its Tables section from contract_markdown()"
    )
