"""Writers beside a SQLite import: how long a rater's write waits while a dataset is imported.

Imports a MovieLens-layout folder in-process (``import_movielens``, as ``recommender import
movielens`` does) into a fresh, migrated SQLite file, optionally onto the sample catalogue,
while a second process plays a rater: every ``--every`` seconds it opens a write transaction
(``BEGIN IMMEDIATE``, the lock every rating, sign-up and token request takes) with the app's
5 s busy timeout, and records how long it waited; a wait that reaches the timeout is a write
the app would have answered with a 503. Prints the import's time, its write transactions and
the longest, and the waits (median, p99, max, timeouts), with the load average at the start
and the end (these machines are shared: say whether it was idle).

Goal (issue 15): a rating waits at most 1 s and never times out, whatever the dataset's size.

Run, e.g.: ``.venv/bin/python bench/synthetic.py --out /tmp/ml-synthetic-25m --size 25m`` then
``.venv/bin/python bench/import_lock.py /tmp/ml-synthetic-25m --catalogue``; MovieLens 100K
(fetched into the git-ignored ``.cache/``) when no folder is given.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from import_speed import migrated_database  # noqa: E402

from recommender.datasets import fetch_ml100k  # noqa: E402
from recommender.engine.scale import RatingScale  # noqa: E402
from recommender.extensions import db  # noqa: E402
from recommender.importers.catalogue import import_catalogue  # noqa: E402
from recommender.importers.movielens.importer import import_movielens  # noqa: E402

SCALE = RatingScale(0.5, 5.0, 0.5)
BUSY_TIMEOUT_S = 5.0  # SQLITE_BUSY_TIMEOUT_MS's default: a writer waiting longer gets a 503
GOAL_WAIT_S = 1.0
SAMPLE_CATALOGUE = ROOT / "recommender" / "data" / "movies.json"


def rater(path: str, every: float, stop: multiprocessing.Event, waits: multiprocessing.Queue):
    """Take and release the write lock every ``every`` s; put each wait (s) on ``waits``."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            waits.put(time.perf_counter() - started)
        except sqlite3.OperationalError:  # database is locked: the busy timeout ran out
            waits.put(float("inf"))
        time.sleep(every)
    waits.put(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", help="a MovieLens-layout folder")
    parser.add_argument("--catalogue", action="store_true", help="onto the sample catalogue")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between writes")
    args = parser.parse_args()
    folder = args.folder or fetch_ml100k(ROOT / ".cache" / "datasets")
    with tempfile.TemporaryDirectory(prefix="import-lock-") as workdir:
        path = os.path.join(workdir, "bench.db")
        app = migrated_database(f"sqlite:///{path}")
        with app.app_context():
            if args.catalogue:
                import_catalogue(db.session, SAMPLE_CATALOGUE)
            load_before = os.getloadavg()
            stop, waits = multiprocessing.Event(), multiprocessing.Queue()
            probe = multiprocessing.Process(target=rater, args=(path, args.every, stop, waits))
            probe.start()
            started = time.perf_counter()
            report = import_movielens(db.session, folder, scale=SCALE)
            elapsed = time.perf_counter() - started
            stop.set()
            measured = []
            while (wait := waits.get()) is not None:
                measured.append(wait)
            probe.join()
            load_after = os.getloadavg()
    timeouts = sum(1 for wait in measured if wait == float("inf"))
    finite = sorted(wait for wait in measured if wait != float("inf")) or [0.0]
    p99 = finite[min(len(finite) - 1, int(0.99 * len(finite)))]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dataset {folder} ({report.counts['ratings_inserted']:,} ratings inserted)")
    print(f"load average at the start {load_before[0]:.2f}, at the end {load_after[0]:.2f}")
    print(f"import {elapsed:.1f} s, peak RSS {peak_mb:.0f} MB")
    transactions, longest = report.write_transactions, report.write_seconds
    print(f"write transactions {transactions:,}, the longest {longest:.3f} s")
    print(
        f"a writer every {args.every} s: {len(measured):,} writes; wait median "
        f"{statistics.median(finite) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
        f"{finite[-1] * 1000:.0f} ms; timed out (a 503): {timeouts}"
    )
    met = timeouts == 0 and finite[-1] <= GOAL_WAIT_S
    print(f"goal (every wait <= {GOAL_WAIT_S:g} s, none timed out): {'PASS' if met else 'FAIL'}")


if __name__ == "__main__":
    main()
