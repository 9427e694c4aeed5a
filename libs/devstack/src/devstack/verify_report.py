"""The table `make verify` prints: one row per check of the verify suite (`tests/verify/`).

A row is a test function (its parametrized cases count together: a table-driven attack test is
one row however many cases it has). Its section comes from the module's name (`test_faults*.py`
is "Faults"), its text from the first line of the test's docstring, recorded by the suite's
conftest as the `row` user property, and its figures from a `figures` user property the test
records itself (`record_property("figures", "10,000 operations, 0 lost, ...")`).

A pytest plugin loaded by the root conftest, because under xdist only the controller sees every
report, and the controller loads no conftest below the root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VERIFY_PREFIX = "tests/verify/"
# Where the last run's table is written as Markdown (the README's report is copied from it).
REPORT_PATH = Path(".verify") / "report.md"
SECTIONS = {"faults": "Faults", "fuzzing": "Fuzzing", "attack": "Attack"}


@dataclass
class Row:
    section: str
    name: str
    text: str = ""
    figures: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: list[str] = field(default_factory=list)
    reruns: int = 0

    @property
    def status(self) -> str:
        if self.failed:
            return "FAILED"
        if self.passed:
            return "green"
        return "skipped"

    @property
    def cases(self) -> int:
        return self.passed + self.failed + len(self.skipped)


def _section(module: str) -> str:
    stem = Path(module).stem.removeprefix("test_")
    for key, title in SECTIONS.items():
        if stem.startswith(key):
            return title
    return stem.replace("_", " ").capitalize()


class VerifyReport:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}

    def _row(self, nodeid: str) -> Row | None:
        if not nodeid.startswith(VERIFY_PREFIX):
            return None
        module, _, name = nodeid.partition("::")
        name = re.sub(r"\[.*\]$", "", name)
        key = (module, name)
        if key not in self.rows:
            self.rows[key] = Row(section=_section(module), name=name)
        return self.rows[key]

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = self._row(report.nodeid)
        if row is None:
            return
        for key, value in report.user_properties:
            if key == "row" and not row.text:
                row.text = str(value)
            elif key == "figures" and str(value) not in row.figures:
                row.figures.append(str(value))
        outcome: str = report.outcome  # pytest-rerunfailures adds "rerun" to pytest's three
        if outcome == "rerun":
            row.reruns += 1
        elif report.when == "call" or report.outcome != "passed":
            # set-up and tear-down count only when they fail or skip
            if outcome == "passed":
                row.passed += 1
            elif outcome == "failed":
                row.failed += 1
            elif outcome == "skipped":
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                row.skipped.append(reason.removeprefix("Skipped: "))

    def lines(self) -> list[str]:
        out = ["| section | check | result | figures |", "|---|---|---|---|"]
        for row in sorted(self.rows.values(), key=lambda r: list(SECTIONS.values()).index(r.section)
                          if r.section in SECTIONS.values() else len(SECTIONS)):  # fmt: skip
            result = row.status
            if row.cases > 1:
                result += f" ({row.passed}/{row.cases} cases)"
            if row.reruns:
                result += f", {row.reruns} rerun"
            figures = "; ".join(row.figures)
            if row.skipped and not row.passed:
                figures = "; ".join([figures, *sorted(set(row.skipped))]).strip("; ")
            out.append(f"| {row.section} | {row.text or row.name} | {result} | {figures} |")
        return out

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.rows:
            return
        lines = self.lines()
        terminalreporter.section("verify: faults, fuzzing and attack")
        for line in lines:
            terminalreporter.write_line(line)
        REPORT_PATH.parent.mkdir(exist_ok=True)
        REPORT_PATH.write_text("\n".join(lines) + "\n")
        terminalreporter.write_line(f"(written to {REPORT_PATH})")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(VerifyReport(), "verify-report")
