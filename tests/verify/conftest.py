"""The verify suite (`make verify`, also part of `make test`): the system's promises under faults,
fuzzing and attack. Each test is one row of the table the run prints
(`devstack.verify_report`): the first line of its docstring is the row's text, and the figures
it records (`record_property("figures", ...)`) are the row's figures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _verify_row(request: pytest.FixtureRequest, record_property) -> None:
    doc = (request.function.__doc__ or "").strip()
    record_property("row", doc.splitlines()[0].strip() if doc else request.function.__name__)
