"""A pytest plugin: what each rerun test's failed attempt said, printed at the end of the run.

`make test` reruns a failed test once (pytest-rerunfailures), and pytest prints nothing of the
attempt that failed first: a test that passes on its rerun shows as an `R`, and one that fails
twice shows only its second failure, which can be the first attempt's leftovers rather than its
cause. The end of each first failure (where its assertion is) is printed here, under its name,
with the warnings and errors the attempt logged (a handler that failed and was retried later, a
timeout): the assertion alone rarely says why."""

from __future__ import annotations

import pytest

# The end of a traceback holds the failing line and its message; the whole would bury the run's
# own summary.
TAIL_LINES = 30
LOGGED_LINES = 20
_NOTEWORTHY = ("warning", "error", "exception", "traceback")


def _logged_trouble(report: pytest.TestReport) -> list[str]:
    """The last warning and error lines of what the attempt printed or logged."""
    lines = [
        line
        for _, content in report.sections
        for line in content.splitlines()
        if any(word in line.lower() for word in _NOTEWORTHY)
    ]
    return lines[-LOGGED_LINES:]


class RerunReport:
    def __init__(self) -> None:
        # (test id, phase, end of the failure, warnings and errors it logged)
        self.attempts: list[tuple[str, str, str, list[str]]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome: str = report.outcome  # pytest-rerunfailures adds "rerun" to pytest's three
        if outcome == "rerun":
            tail = report.longreprtext.splitlines()[-TAIL_LINES:]
            self.attempts.append((report.nodeid, report.when, "\n".join(tail), _logged_trouble(report)))

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.attempts:
            return
        terminalreporter.section("what the reruns' failed attempts said")
        for nodeid, when, tail, logged in self.attempts:
            terminalreporter.write_line(f"RERUN {nodeid} ({when}):")
            terminalreporter.write_line(tail)
            if logged:
                terminalreporter.write_line("its warnings and errors:")
                for line in logged:
                    terminalreporter.write_line(f"  {line}")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RerunReport(), "rerun-report")
