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
