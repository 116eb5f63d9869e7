"""Load benchmark: a mixed workload from simulated users against the app under gunicorn.

Builds a database (SQLite file, or a scratch PostgreSQL database created on ``--database-url``'s
server and dropped afterwards) with the schema and the sample catalogue, creates ``--users``
users with API tokens (60% with more than k ratings, so their recommendations are personal),
serves it with ``recommender serve`` (gunicorn, 2 workers x 4 threads) on a free loopback port,
and drives it from client threads in this process for ``--seconds`` (or ``--max-requests``):

- browse 60%: a page of the catalogue, a title search, one movie's detail;
- rate 25%: PUT /api/v1/me/ratings/{movie} with the user's bearer token;
- recommend 15%: GET /api/v1/me/recommendations.

Each user is driven by one client thread at a time, so the last rating the server
acknowledged for a (user, movie) is the one it committed last. After the run the ratings table
must hold exactly the seeded ratings plus every acknowledged one, with the acknowledged value.
Prints throughput and p50/p99 per kind of request, the count of 5xx (must be 0) and the
ratings check, each with PASS/FAIL; the exit status is 1 on any FAIL.

Run: ``make bench-load`` (SQLite, then PostgreSQL when ``BENCH_DATABASE_URL`` is set), or
``.venv/bin/python bench/load.py --seconds 60 [--database-url postgresql+psycopg://...]``.

``--fault redis-hang|pg-restart|worker-kill|import`` (bench/load_faults.py) injects a fault
during the middle third of the run, against private servers: the ratings check must still
pass, no 5xx may come outside a database outage, and the p99 of the requests that overlapped
the fault is printed next to the p99 of the others. ``make bench-load FAULT=redis-hang``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from bench.load_faults import FAULTS, Fault  # noqa: E402
from recommender.app import create_app  # noqa: E402
from recommender.extensions import db  # noqa: E402
from recommender.importers.catalogue import import_sample_catalogue  # noqa: E402
from recommender.models import Movie, Rating, User  # noqa: E402
from recommender.services import accounts  # noqa: E402

K = 10
SERVER_WORKERS = 2
SERVER_THREADS = 4  # recommender serve's gthread workers (recommender/server.py)
# The workload mix: kind -> share of requests.
MIX = {"browse": 0.60, "rate": 0.25, "recommend": 0.15}
BROWSE_KINDS = ("list", "search", "detail")
SEARCH_WORDS = ("the", "man", "love", "star", "night", "war", "day", "dead", "girl", "city")
SORTS = ("title", "-year", "-imdb_rating", "-imdb_votes")
RATING_VALUES = [v / 2 for v in range(1, 11)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Setup: database, catalogue, users with tokens and seeded ratings
# --------------------------------------------------------------------------------------------


@contextmanager
def scratch_database(database_url: str | None, directory: Path) -> Iterator[tuple[str, str]]:
    """Yield (URL, description) of an empty database; a PostgreSQL one is dropped afterwards."""
    if database_url is None:
        yield f"sqlite:///{directory / 'load.sqlite3'}", "SQLite (file, WAL)"
        return
    name = f"recommender_load_{os.getpid()}_{secrets.token_hex(3)}"
    # pre-ping: the server may have been restarted (--fault pg-restart) since the CREATE.
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(database_url).set(database=name)
        yield url.render_as_string(hide_password=False), f"PostgreSQL (scratch database {name})"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class SimulatedUser:
    id: int
    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Setup:
    users: list[SimulatedUser]
    movie_ids: list[int]
    popular_ids: list[int]
    seeded: dict[tuple[int, int], float]
    personal_users: int


def build(environ: dict[str, str], user_count: int, rng: random.Random) -> Setup:
    """Schema, sample catalogue, users with tokens and seeded ratings (in-process, fast)."""
    app = create_app(environ=environ)
    with app.app_context():
        upgrade()
        import_sample_catalogue(db.session)
        movie_ids = list(db.session.scalars(sa.select(Movie.id).order_by(Movie.id)))
        popular_ids = list(
            db.session.scalars(
                sa.select(Movie.id).order_by(Movie.imdb_votes.desc().nulls_last()).limit(400)
            )
        )
        users, seeded, rows, personal = [], {}, [], 0
        now = dt.datetime.now(dt.UTC)
        for i in range(user_count):
            user = accounts.create_user(
                db.session,
                f"load-{i:04d}",
                "load benchmark password",
                hash_method="pbkdf2:sha256:1",
            )
            token, _ = accounts.issue_token(db.session, user, ttl=dt.timedelta(hours=6))
            users.append(SimulatedUser(user.id, token))
            # 60% past k (personal predictions), the rest at or below k (cold start).
            count = rng.randint(K + 1, 4 * K) if rng.random() < 0.6 else rng.randint(0, K)
            personal += count > K
            for movie_id in rng.sample(popular_ids, count):
                value = rng.choice(RATING_VALUES)
                seeded[(user.id, movie_id)] = value
                rows.append({"user_id": user.id, "movie_id": movie_id, "rating": value,
                             "rated_at": now})  # fmt: skip
        if rows:
            db.session.execute(sa.insert(Rating), rows)
        db.session.execute(sa.update(User).values(ratings_version=1))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return Setup(users, movie_ids, popular_ids, seeded, personal)


# --------------------------------------------------------------------------------------------
# The load: client threads on kept-alive connections
# --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client thread saw; merged after the run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: Counter = field(default_factory=Counter)  # kind -> requests without a response
    first_5xx: list[str] = field(default_factory=list)
    # (perf_counter at the start, seconds, status or None without a response) per request.
    timeline: list[tuple[float, float, int | None]] = field(default_factory=list)


@dataclass
class Ledger:
    """The last acknowledged rating per (user, movie), shared by the threads.

    Written while holding the user's lock, so for each user the entries follow the order in
    which the server committed them.
    """

    acknowledged: dict[tuple[int, int], float] = field(default_factory=dict)
    # Pairs whose last write got no answer: it may or may not have been committed.
    uncertain: set[tuple[int, int]] = field(default_factory=set)


class Client:
    def __init__(
        self, port: int, setup: Setup, rng: random.Random, tally: Tally, ledger: Ledger
    ) -> None:
        self.port = port
        self.setup = setup
        self.rng = rng
        self.tally = tally
        self.ledger = ledger
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, kind: str, method: str, path: str, token: str | None = None, body: object = None
    ) -> int | None:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else json.dumps(body)
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException):
            self.tally.failures[kind] += 1
            self.tally.timeline.append((started, time.perf_counter() - started, None))
            self.conn.close()  # reconnects on the next request
            return None
        self.tally.latencies[kind].append(time.perf_counter() - started)
        self.tally.timeline.append((started, time.perf_counter() - started, response.status))
        self.tally.statuses[kind][response.status] += 1
        if response.status >= 500 and len(self.tally.first_5xx) < 5:
            self.tally.first_5xx.append(f"{method} {path} -> {response.status} {text[:200]!r}")
        return response.status

    def one(self) -> None:
        """One request of the mix for a random user (never one another thread is driving)."""
        user = self.rng.choice(self.setup.users)
        with user.lock:
            kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
            if kind == "browse":
                self.browse()
            elif kind == "rate":
                self.rate(user)
            else:
                self.request("recommend", "GET", "/api/v1/me/recommendations?limit=10", user.token)

    def browse(self) -> None:
        what = self.rng.choice(BROWSE_KINDS)
        if what == "list":
            page, sort = self.rng.randint(1, 50), self.rng.choice(SORTS)
            self.request("browse:list", "GET", f"/api/v1/movies?page={page}&sort={sort}")
        elif what == "search":
            word = self.rng.choice(SEARCH_WORDS)
            self.request("browse:search", "GET", f"/api/v1/movies?q={word}")
        else:
            movie_id = self.rng.choice(self.setup.movie_ids)
            self.request("browse:detail", "GET", f"/api/v1/movies/{movie_id}")

    def rate(self, user: SimulatedUser) -> None:
        # Mostly well-known films, so some ratings change an earlier one (200) and some are new.
        pool = self.setup.popular_ids if self.rng.random() < 0.7 else self.setup.movie_ids
        movie_id, value = self.rng.choice(pool), self.rng.choice(RATING_VALUES)
        status = self.request(
            "rate", "PUT", f"/api/v1/me/ratings/{movie_id}", user.token, {"rating": value}
        )
        if status in (200, 201):
            self.ledger.acknowledged[(user.id, movie_id)] = value
            self.ledger.uncertain.discard((user.id, movie_id))
        elif status is None or status >= 500:
            # No answer (or a failure): the write may or may not have happened.
            self.ledger.uncertain.add((user.id, movie_id))


@dataclass
class FaultWindow:
    """When the fault was on, in perf_counter time (inf until it happens)."""

    fault: Fault
    start: float = float("inf")
    end: float = float("inf")
    error: BaseException | None = None

    def covers(self, started: float, seconds: float) -> bool:
        """Whether a request of ``seconds`` from ``started`` overlapped the fault: one in
        flight when a worker was killed counts, though it started just before."""
        return started <= self.end + self.fault.grace_seconds and started + seconds >= self.start


def inject(
    fault: Fault, server: subprocess.Popen, seconds: float
) -> tuple[threading.Thread, FaultWindow]:
    """Begin ``fault`` a third into a run of ``seconds`` and end it at two thirds (an instant
    one as soon as the system has recovered)."""
    window = FaultWindow(fault)
    origin = time.perf_counter()

    def timeline() -> None:
        try:
            time.sleep(seconds / 3)
            window.start = time.perf_counter()
            fault.begin(server)
            if not fault.instant:
                time.sleep(max(0.0, origin + 2 * seconds / 3 - time.perf_counter()))
            fault.end(server)
            window.end = time.perf_counter()
        except BaseException as error:  # re-raised by the run once the load is over
            window.error = error

    thread = threading.Thread(target=timeline, daemon=True)
    thread.start()
    return thread, window


def run_threads(run: Callable[[int], None], count: int) -> float:
    """Run ``run(0)`` .. ``run(count - 1)`` on threads at once; return the seconds they took."""
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def reference_rate(port: int, clients: int, seconds: float) -> float:
    """Requests/s of GET /healthz (one trivial query) from the same client threads: the
    ceiling this server, client and machine reach together, measured in the same run."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            counts[slot] += response.status == 200
        conn.close()

    elapsed = run_threads(run, clients)
    return sum(counts) / elapsed


def warm_up(port: int, setup: Setup) -> None:
    """A few recommendations first, so each worker has loaded the feature version (not counted)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for user in setup.users[: 4 * SERVER_WORKERS]:
        conn.request("GET", "/api/v1/me/recommendations?limit=10",
                     headers={"Authorization": f"Bearer {user.token}"})  # fmt: skip
        conn.getresponse().read()
    conn.close()


def drive(port: int, setup: Setup, clients: int, seconds: float, max_requests: int, seed: int):
    """Run the mix from ``clients`` threads; return the per-thread tallies, the ledger of
    acknowledged ratings and the elapsed time."""
    tallies = [Tally() for _ in range(clients)]
    ledger = Ledger()
    budget = itertools.count()
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        client = Client(port, setup, random.Random(seed * 1000 + slot), tallies[slot], ledger)
        while time.perf_counter() < deadline and next(budget) < max_requests:
            client.one()
        client.conn.close()

    return tallies, ledger, run_threads(run, clients)


# --------------------------------------------------------------------------------------------
# The run and its report
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    lines: list[str]
    requests: int
    server_errors: int
    failed_requests: int
    unexpected_4xx: int
    acknowledged: int
    stored: int
    expected: int
    lost: int
    wrong: int
    unexpected_rows: int

    @property
    def passed(self) -> bool:
        return not (
            self.server_errors
            or self.failed_requests
            or self.unexpected_4xx
            or self.lost
            or self.wrong
            or self.unexpected_rows
        )


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def wait_until_up(port: int, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("server exited:\n" + log.read_text())
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer /healthz within {seconds} s")


def check_ratings(url: str, expected: dict, uncertain: set) -> tuple[int, int, int, int]:
    """(stored rows, lost, wrong value, unexpected rows) comparing the table with ``expected``."""
    engine = sa.create_engine(url)
    # The load's users are local accounts; a dataset's users (--fault import) are not its own.
    ratings = sa.select(Rating.user_id, Rating.movie_id, Rating.rating).join(User)
    with engine.connect() as conn:
        stored = {(u, m): r for u, m, r in conn.execute(ratings.where(User.source == "local"))}
    engine.dispose()
    lost = sum(1 for pair in expected if pair not in stored and pair not in uncertain)
    wrong = sum(
        1
        for pair, value in expected.items()
        if pair in stored and pair not in uncertain and stored[pair] != value
    )
    unexpected = sum(1 for pair in stored if pair not in expected and pair not in uncertain)
    return len(stored), lost, wrong, unexpected


@dataclass(frozen=True)
class Load:
    clients: int
    seconds: float
    max_requests: int
    seed: int
    reference_seconds: float


def merge(tallies: list[Tally]) -> Tally:
    """The client threads' tallies as one (without their timelines)."""
    merged = Tally()
    for tally in tallies:
        for kind, values in tally.latencies.items():
            merged.latencies[kind].extend(values)
        for kind, counter in tally.statuses.items():
            merged.statuses[kind].update(counter)
        merged.failures.update(tally.failures)
        merged.first_5xx.extend(tally.first_5xx)
    return merged


def serve_and_load(
    environ: dict[str, str], setup: Setup, directory: Path, load: Load, fault: Fault | None
):
    """Serve the app, measure /healthz alone, then drive the mix (with ``fault`` in its middle
    third); return (port, healthz req/s, tallies, ledger, seconds, fault window or None)."""
    port = free_port()
    log = directory / "server.log"
    command = [sys.executable, "-m", "recommender", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(SERVER_WORKERS)]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env={**os.environ, **environ}, stdout=out, stderr=subprocess.STDOUT
        )
    window = None
    try:
        wait_until_up(port, server, log)
        warm_up(port, setup)
        healthz_rate = reference_rate(port, load.clients, load.reference_seconds)
        if fault is not None:
            timeline, window = inject(fault, server, load.seconds)
        tallies, ledger, elapsed = drive(
            port, setup, load.clients, load.seconds, load.max_requests, load.seed
        )
        if window is not None:
            timeline.join(timeout=120)
            if window.error is not None:
                raise RuntimeError(f"the {fault.name} fault failed") from window.error
    finally:
        server.terminate()
        server.wait(timeout=30)
    return port, healthz_rate, tallies, ledger, elapsed, window


def run(
    *,
    seconds: float,
    users: int,
    clients: int,
    max_requests: int,
    database_url: str | None = None,
    seed: int = 0,
    reference_seconds: float | None = None,
    fault: str | None = None,
) -> Result:
    """Build, serve, load and check; ``reference_seconds`` of /healthz first (default: a
    twelfth of the run, 1 to 5 s); ``fault`` (a name of bench/load_faults.py) in the middle
    third of the load."""
    rng = random.Random(seed)
    lines: list[str] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        injected = stack.enter_context(FAULTS[fault](Path(tmp))) if fault else None
        if injected is not None:
            database_url = injected.database_server(database_url)
        url, described = stack.enter_context(scratch_database(database_url, Path(tmp)))
        environ = {
            "RECOMMENDER_ENV": "production",
            # Production refuses a weak key and wants its host names (127.0.0.1: the bench server).
            "SECRET_KEY": secrets.token_hex(32),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": url,
            "RECOMMENDER_K": str(K),
            **(injected.environ() if injected is not None else {}),
        }
        if injected is not None:
            injected.server_environ = environ
        started = time.perf_counter()
        setup = build(environ, users, rng)
        build_seconds = time.perf_counter() - started
        if reference_seconds is None:
            reference_seconds = min(5.0, max(1.0, seconds / 12))
        load = Load(clients, seconds, max_requests, seed, reference_seconds)
        port, healthz_rate, tallies, ledger, elapsed, window = serve_and_load(
            environ, setup, Path(tmp), load, injected
        )

        acknowledged, uncertain = ledger.acknowledged, ledger.uncertain
        expected = {**setup.seeded, **acknowledged}
        stored, lost, wrong, unexpected_rows = check_ratings(url, expected, uncertain)

    merged = merge(tallies)
    latencies, statuses, failures, first_5xx = (
        merged.latencies,
        merged.statuses,
        merged.failures,
        merged.first_5xx,
    )
    total = sum(len(v) for v in latencies.values()) + sum(failures.values())

    cores = os.cpu_count()
    lines.append(
        f"machine: {cores} cores, shared by the server, this load generator and other jobs "
        "running on it (figures are indicative)"
    )
    lines.append(
        f"server: gunicorn via `recommender serve`, {SERVER_WORKERS} workers x {SERVER_THREADS} "
        f"threads, 127.0.0.1:{port}; clients: {clients} threads (http.client, keep-alive) in a "
        "separate process"
    )
    lines.append(
        f"database: {described}; {len(setup.movie_ids):,} movies (sample catalogue); "
        f"{users} users with tokens, {setup.personal_users} past k={K} ratings; "
        f"{len(setup.seeded):,} seeded ratings (setup {build_seconds:.1f} s)"
    )
    lines.append(
        f"run: {elapsed:.1f} s, {total:,} requests, {total / elapsed:,.0f} req/s "
        f"(limits: {seconds:g} s, {max_requests:,} requests)"
    )
    lines.append("")
    header = f"{'kind':<16}{'share':>7}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    lines.append(header + "  statuses")
    groups = {
        "browse": [k for k in latencies if k.startswith("browse:")],
        "rate": ["rate"],
        "recommend": ["recommend"],
    }
    for group, kinds in groups.items():
        rows = [(group, kinds)] + ([(f"  {k.split(':')[1]}", [k]) for k in kinds] if len(kinds) > 1
                                   else [])  # fmt: skip
        for name, members in rows:
            values = sorted(v for k in members for v in latencies.get(k, []))
            count = len(values)
            status = Counter()
            for k in members:
                status.update(statuses.get(k, Counter()))
            if not count:
                lines.append(f"{name:<16}{'':>7}{0:>10}")
                continue
            lines.append(
                f"{name:<16}{count / max(total, 1):>7.0%}{count:>10,}{count / elapsed:>9.0f}"
                f"{1000 * percentile(values, 0.5):>9.1f}{1000 * percentile(values, 0.99):>9.1f}  "
                + " ".join(f"{code}:{n}" for code, n in sorted(status.items()))
            )
    every = sorted(v for values in latencies.values() for v in values)
    if every:
        lines.append(
            f"{'all':<16}{'':>7}{len(every):>10,}{len(every) / elapsed:>9.0f}"
            f"{1000 * percentile(every, 0.5):>9.1f}{1000 * percentile(every, 0.99):>9.1f}"
        )
    lines.append(
        f"reference: GET /healthz alone from the same {clients} threads: {healthz_rate:,.0f} req/s;"
        f" the mix runs at {len(every) / elapsed / healthz_rate:.2f}x that rate"
    )

    server_errors = sum(n for c in statuses.values() for code, n in c.items() if code >= 500)
    failed = sum(failures.values())
    if window is not None:
        fault_lines, server_errors, failed = fault_report(window, tallies, elapsed)
        lines.append("")
        lines.extend(fault_lines)
    # 429 would be a rate limit doing its job; any other 4xx means the benchmark is broken.
    unexpected_4xx = sum(
        n for c in statuses.values() for code, n in c.items() if 400 <= code < 500 and code != 429
    )
    lines.append("")
    outside = (
        " (but 503 during the database outage)" if window and window.fault.database_outage else ""
    )
    lines.append(
        f"5xx responses{outside}: {server_errors} -> {'PASS' if not server_errors else 'FAIL'}"
    )
    if server_errors:  # else the 5xx listed would be the outage's own 503s
        lines.extend(f"  {line}" for line in first_5xx[:5])
    dropped = " outside the fault" if window and window.fault.drops_connections else ""
    lines.append(
        f"requests without a response{dropped}: {failed}, unexpected 4xx: {unexpected_4xx} -> "
        f"{'PASS' if not failed and not unexpected_4xx else 'FAIL'}"
    )
    ratings_ok = not (lost or wrong or unexpected_rows)
    lines.append(
        f"ratings: {len(acknowledged):,} (user, movie) pairs acknowledged "
        f"({sum(statuses['rate'][c] for c in (200, 201)):,} acknowledged writes), "
        f"{len(setup.seeded):,} seeded -> {len(expected):,} expected rows; {stored:,} stored; "
        f"lost {lost}, wrong value {wrong}, unexpected {unexpected_rows}, "
        f"unknown outcome {len(uncertain)} -> {'PASS' if ratings_ok else 'FAIL'}"
    )
    return Result(
        lines=lines,
        requests=total,
        server_errors=server_errors,
        failed_requests=failed,
        unexpected_4xx=unexpected_4xx,
        acknowledged=len(acknowledged),
        stored=stored,
        expected=len(expected),
        lost=lost,
        wrong=wrong,
        unexpected_rows=unexpected_rows,
    )


def fault_report(
    window: FaultWindow, tallies: list[Tally], elapsed: float
) -> tuple[list[str], int, int]:
    """Lines comparing the requests started during the fault with the others, and the counts
    that fail the run: 5xx (but a database outage's 503s) and requests without an answer (outside
    a fault that drops connections)."""
    fault = window.fault
    timeline = sorted(entry for tally in tallies for entry in tally.timeline)
    origin = timeline[0][0] if timeline else window.start
    during = [e for e in timeline if window.covers(e[0], e[1])]
    outside = [e for e in timeline if not window.covers(e[0], e[1])]

    def p99(entries: list[tuple[float, float, int | None]]) -> str:
        answered = sorted(seconds for _, seconds, status in entries if status is not None)
        return f"{1000 * percentile(answered, 0.99):.1f} ms" if answered else "-"

    def count(entries, test) -> int:
        return sum(1 for _, _, status in entries if test(status))

    def is_5xx(status):
        return status is not None and status >= 500

    def unanswered(status):
        return status is None

    grace = f" + {fault.grace_seconds:g} s" if fault.grace_seconds else ""
    lines = [
        f"fault: {fault.name}: {fault.description}; from {window.start - origin:.1f} s to "
        f"{window.end - origin:.1f} s{grace} of the {elapsed:.1f} s run",
        f"  requests overlapping the fault: {len(during):,}, p99 {p99(during)}; "
        f"outside it: {len(outside):,}, p99 {p99(outside)}",
        f"  5xx during: {count(during, is_5xx)}, outside: {count(outside, is_5xx)}; "
        f"without an answer during: {count(during, unanswered)}, "
        f"outside: {count(outside, unanswered)}",
    ]

    def is_5xx_but_503(status):
        return is_5xx(status) and status != 503

    # During a database outage the app answers 503 with Retry-After; any other 5xx is a bug.
    errors = (
        count(outside, is_5xx) + count(during, is_5xx_but_503)
        if fault.database_outage
        else count(timeline, is_5xx)
    )
    failed = count(outside if fault.drops_connections else timeline, unanswered)
    return lines, errors, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load")
    parser.add_argument("--users", type=int, default=200, help="simulated users")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="stop after this many requests"
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create a scratch database on (default: a SQLite file)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fault",
        choices=sorted(FAULTS),
        help="inject this fault in the middle third of the run (private servers; pg-restart "
        "runs on a private PostgreSQL cluster of its own)",
    )
    args = parser.parse_args()
    result = run(
        seconds=args.seconds,
        users=args.users,
        clients=args.clients,
        max_requests=args.max_requests,
        database_url=args.database_url,
        seed=args.seed,
        fault=args.fault,
    )
    print("\n".join(result.lines))
    print(f"\noverall: {'PASS' if result.passed else 'FAIL'}")
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
