"""docs/api.md's coverage table is what the routes and the refusal registry make it (tools/api_coverage.py)."""

from __future__ import annotations

from tools.api_coverage import BEGIN, DOC, END, LAGO, section, served_keys


def test_the_coverage_table_in_docs_is_current():
    text = DOC.read_text()
    current = text[text.index(BEGIN):text.index(END) + len(END)]
    assert current == section(), "docs/api.md is out of date: run .venv/bin/python -m tools.api_coverage"


def test_the_table_counts_every_lago_operation_and_tally_serves_at_least_98():
    table = section()
    assert table.count("\n| `") == len(LAGO["operations"]) == 202
    served = table.count("| served |")
    assert served >= 98 and f"**{served} of the 202 operations**" in table
    assert len(served_keys()) >= served  # Tally's own (embed_token, openapi.json) are not Lago's
