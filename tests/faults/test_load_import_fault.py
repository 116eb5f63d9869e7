"""bench/load.py --fault import: a short load with an ML-100K import in its middle loses no
rating and answers no 5xx on SQLite, where the import used to lock raters out."""

from __future__ import annotations

from pathlib import Path

from tests.faults.test_load_smoke import load_bench


def test_a_short_run_with_an_import_loses_no_rating_and_answers_no_5xx(ml100k: Path):
    bench = load_bench()
    result = bench.run(
        seconds=4, users=10, clients=4, max_requests=3_000, reference_seconds=0.3, fault="import"
    )
    report = "\n".join(result.lines)
    assert "fault: import: a MovieLens 100K import" in report
    # SQLite's staged write, in steps (ML-100K is past ONE_TRANSACTION_ROWS), timed.
    assert "transactions, the longest" in report
    assert result.acknowledged > 0, report
    assert (result.lost, result.wrong, result.unexpected_rows) == (0, 0, 0), report
    assert result.server_errors == 0 and result.failed_requests == 0, report
    assert result.passed, report
