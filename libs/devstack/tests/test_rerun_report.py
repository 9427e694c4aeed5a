"""The rerun report plugin, run in a pytest of its own (pytester) with one rerun, as `make test`."""

from __future__ import annotations

import pytest

FLAKY = """
def test_flaky(tmp_path_factory):
    marker = tmp_path_factory.getbasetemp().parent / "attempted"
    if not marker.exists():
        marker.touch()
        print("2026-12-02 [warning  ] event_retry_scheduled attempt=1")
        print("an ordinary line")
        assert 41 == 42, "the first attempt's own figure"

def test_steady():
    assert True
"""


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest("-p", "devstack.rerun_report", "--reruns", "1", "-p", "no:cacheprovider")


def test_a_rerun_tests_failed_attempt_is_printed_with_its_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    result = _run(pytester)
    assert result.parseoutcomes() == {"passed": 2, "rerun": 1}
    result.stdout.fnmatch_lines(
        [
            "*what the reruns' failed attempts said*",
            "RERUN test_flaky.py::test_flaky (call):",
            "*AssertionError: the first attempt's own figure",
            "its warnings and errors:",
            "  2026-12-02 [warning  ] event_retry_scheduled attempt=1",
        ]
    )
    assert "an ordinary line" not in result.stdout.str().split("its warnings and errors:")[1]
    assert "test_steady" not in result.stdout.str().split("what the reruns' failed attempts said")[1]


def test_a_run_without_reruns_prints_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_steady="def test_steady():\n    assert True\n")
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    assert "failed attempts said" not in result.stdout.str()
