"""bench/load.py --fault: a short run with each cheap fault still loses no rating and answers
no 5xx; the report compares the requests that overlapped the fault with the others."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import unavailable
from tests.faults.test_load_smoke import load_bench


@pytest.mark.parametrize("fault", ["worker-kill", "redis-hang"])
def test_a_short_run_with_a_fault_loses_no_rating(fault):
    if fault == "redis-hang" and shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    bench = load_bench()
    result = bench.run(
        seconds=3, users=10, clients=4, max_requests=3_000, reference_seconds=0.3, fault=fault
    )
    report = "\n".join(result.lines)
    assert f"fault: {fault}:" in report
    assert "requests overlapping the fault:" in report
    assert result.acknowledged > 0, report
    assert (result.lost, result.wrong, result.unexpected_rows) == (0, 0, 0), report
    assert result.server_errors == 0 and result.failed_requests == 0, report
    assert result.passed, report


def test_only_503s_are_forgiven_during_a_database_outage(tmp_path):
    bench = load_bench()
    window = bench.FaultWindow(bench.FAULTS["pg-restart"](tmp_path), start=10.0, end=20.0)
    tally = bench.Tally()
    # (started, seconds, status): one before the outage, the rest inside it.
    tally.timeline = [(1.0, 0.1, 200), (12.0, 0.1, 503), (13.0, 0.1, 503)]
    _lines, errors, _failed = bench.fault_report(window, [tally], elapsed=30.0)
    assert errors == 0
    tally.timeline.append((14.0, 0.1, 500))  # a crash of the app, not its answer to the outage
    assert bench.fault_report(window, [tally], elapsed=30.0)[1] == 1
    tally.timeline.append((25.0, 0.1, 503))  # the outage is over: a 503 now counts
    assert bench.fault_report(window, [tally], elapsed=30.0)[1] == 2
