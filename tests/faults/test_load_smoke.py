"""A very short run of bench/load.py (the mixed workload against gunicorn): no 5xx, and every
rating the server acknowledged is in the database afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_short_mixed_load_has_no_server_errors_and_loses_no_rating():
    bench = load_bench()
    result = bench.run(seconds=2, users=10, clients=4, max_requests=2_000, reference_seconds=0.5)
    report = "\n".join(result.lines)
    assert result.requests > 20, report
    assert result.server_errors == 0 and result.failed_requests == 0, report
    assert result.unexpected_4xx == 0, report
    assert result.acknowledged > 0, report  # ratings were written during the run...
    assert (result.lost, result.wrong, result.unexpected_rows) == (0, 0, 0), report
    assert result.stored == result.expected, report  # ...and every one of them is stored
    assert result.passed
