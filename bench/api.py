"""REST benchmark: warm recommendations against /healthz on the same gunicorn server.

Builds a SQLite database with the sample catalogue padded with synthetic movies to 62,000 and
one user with 1,000 ratings, serves it with ``recommender serve`` (gunicorn, 2 workers) on
127.0.0.1, and prints in one run:

- requests/s and p50/p99 of GET /api/v1/me/recommendations (warm cache) and of GET /healthz,
  and their ratio (goal: recommendations at least half the /healthz rate);
- the latency of the first, uncached recommendation request;
- p50/p99 of the film page GET /movies/{id} and of the recommendations page GET
  /recommendations, signed in as that user, over the same gunicorn server (warm: their
  predictions entry, the film's "More like this" and the page's list cached; goal: under
  100 ms each);
- the time of an incremental update after one new rating against a full recompute
  (goal: 20x faster), measured in-process over the same data;
- the server time of the recommendations page (warm: plain, each option, "Show more", a
  "Not interested" and a "Watch later" answered with the next card and the count under the
  page's state; goal: under 100 ms each), and of a rating in place on it (not warm: the
  predictions entry is updated incrementally, and the other cards and the count refreshed);
- the time of a full recompute of both answers (predicted rating and ranking score) against
  the rating-only path (one neighbour search and the prediction rule,
  ``predict_for_rows``) over the same rows (goal: at most 1.3x).

Run: ``make bench-api`` (or ``.venv/bin/python bench/api.py --seconds 5``). Loopback only,
bounded in time; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from recommender.app import create_app  # noqa: E402
from recommender.engine.predictor import (  # noqa: E402
    UserRatings,
    compute_predictions,
    predict_for_rows,
    update_predictions,
)
from recommender.extensions import db  # noqa: E402
from recommender.importers.catalogue import import_sample_catalogue  # noqa: E402
from recommender.models import Genre, Movie, Rating, User, movie_genres  # noqa: E402
from recommender.services import accounts, lists  # noqa: E402

CATALOGUE_SIZE = 62_000
USER_RATINGS = 1_000
MPAA = ("G", "PG", "PG-13", "R", "NC-17", None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pad_catalogue(rng: np.random.Generator, target: int) -> None:
    """Insert synthetic movies (bulk, Core) until the catalogue holds ``target`` movies."""
    have = db.session.scalar(sa.select(sa.func.count(Movie.id)))
    missing = target - have
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "title": f"Synthetic movie {i:05d}",
            "year": int(rng.integers(1920, 2025)),
            "runtime_min": int(rng.integers(70, 200)),
            "budget": int(rng.lognormal(16, 1.2)),
            "imdb_rating": round(float(rng.uniform(2, 9.5)), 1),
            "imdb_votes": int(rng.lognormal(8, 2)),
            "rt_rating": int(rng.integers(0, 101)) if rng.random() < 0.6 else None,
            "mpaa": MPAA[int(rng.integers(len(MPAA)))],
            "created_at": now,
            "updated_at": now,
        }
        for i in range(missing)
    ]
    db.session.execute(sa.insert(Movie), rows)
    genre_ids = list(db.session.scalars(sa.select(Genre.id)))
    new_ids = db.session.scalars(
        sa.select(Movie.id).where(Movie.title.like("Synthetic movie %"))
    ).all()
    links = [{"movie_id": m, "genre_id": int(rng.choice(genre_ids))} for m in new_ids]
    db.session.execute(sa.insert(movie_genres), links)
    db.session.commit()


def build_database(path: Path, rng: np.random.Generator) -> tuple[dict[str, str], str, int]:
    """Create the benchmark database; return its environment, a token and a spare movie id."""
    environ = {
        "RECOMMENDER_ENV": "production",
        # Production refuses a weak key and wants its host names (127.0.0.1: the bench server).
        "SECRET_KEY": secrets.token_hex(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{path}",
        "RECOMMENDER_K": "20",
    }
    app = create_app(environ=environ)
    with app.app_context():
        upgrade()
        import_sample_catalogue(db.session)
        pad_catalogue(rng, CATALOGUE_SIZE)
        user = accounts.create_user(db.session, "bench", "benchmark password")
        movie_ids = np.array(db.session.scalars(sa.select(Movie.id)).all())
        chosen = rng.choice(movie_ids, size=USER_RATINGS + 1, replace=False)
        now = dt.datetime.now(dt.UTC)
        db.session.execute(
            sa.insert(Rating),
            [
                {"user_id": user.id, "movie_id": int(m), "rating": float(r), "rated_at": now}
                for m, r in zip(chosen[:-1], rng.integers(1, 11, USER_RATINGS) / 2, strict=True)
            ],
        )
        db.session.execute(sa.update(User).values(ratings_version=1))
        db.session.commit()
        token, _ = accounts.issue_token(db.session, user, ttl=dt.timedelta(hours=2))
    return environ, token, int(chosen[-1])


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    """One GET on a kept-alive connection; returns its latency in seconds."""
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return time.perf_counter() - started


def load(port: int, path: str, headers: dict[str, str], seconds: float, clients: int) -> dict:
    """``clients`` threads on kept-alive connections for ``seconds``: rate and latencies."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            latencies[slot].append(get(conn, path, headers))
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for part in latencies for x in part)
    return {
        "rate": len(flat) / elapsed,
        "p50": 1000 * flat[len(flat) // 2],
        "p99": 1000 * flat[min(len(flat) - 1, int(len(flat) * 0.99))],
        "count": len(flat),
    }


def web_session(port: int) -> dict[str, str]:
    """Sign the bench user in through the login form; the Cookie header of that session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no CSRF token on /login")
    form = urllib.parse.urlencode(
        {"username": "bench", "password": "benchmark password", "csrf_token": token.group(1)}
    )
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    conn.request("POST", "/login", body=form, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"signing in answered {response.status}")
    return {"Cookie": response.getheader("Set-Cookie", "").split(";", 1)[0]}


def wait_until_up(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(http.client.HTTPConnection("127.0.0.1", port, timeout=2), "/healthz", {})
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("server exited:\n" + log.read_text()) from None
            time.sleep(0.2)
    raise RuntimeError("server did not start within 60 s")


def incremental_against_full(
    environ: dict[str, str], repeats: int
) -> tuple[float, float, float, int]:
    """Median seconds of one incremental update, of a full recompute (both answers) and of
    the rating-only path over the same rows, and the stale rows."""
    app = create_app(environ=environ)
    with app.app_context():
        recommender = app.extensions["recommender"]
        features = recommender.feature_store.current(db.session)
        user_id = db.session.scalar(sa.select(User.id).where(User.username == "bench"))
        ratings = recommender.user_ratings(db.session, user_id, features)
        settings = recommender.settings
        # The user as they were before their last-rated movie (highest row) was rated.
        before = UserRatings(ratings.rows[:-1], ratings.values[:-1])
        previous = compute_predictions(features, before, settings)
        full_times, incremental_times, rating_only_times = [], [], []
        unrated = previous.unrated_rows[previous.unrated_rows != ratings.rows[-1]]
        for _ in range(repeats):
            started = time.perf_counter()
            full = compute_predictions(features, ratings, settings)
            full_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            rating_only, _ = predict_for_rows(features, ratings, unrated, settings)
            rating_only_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            updated = update_predictions(features, previous, ratings, settings, ratings_version=2)
            incremental_times.append(time.perf_counter() - started)
        kept = np.isin(previous.unrated_rows, updated.unrated_rows)
        stale = int((previous.neighbour_rows[kept] != updated.neighbour_rows).any(axis=1).sum())
        assert np.allclose(updated.predicted, full.predicted)
        assert np.allclose(updated.score, full.score)
        assert np.allclose(rating_only[0], full.predicted)
        return (
            statistics.median(incremental_times),
            statistics.median(full_times),
            statistics.median(rating_only_times),
            stale,
        )


def recommendations_page_timing(environ: dict[str, str], repeats: int) -> dict[str, list[float]]:
    """Server time (ms, in-process through the WSGI app) of the recommendations page, warm,
    for the benchmark user: the plain page, each option, "Show more", and a "Not interested"
    that answers with the next card (each one changes the list: a response-cache miss over the
    warm predictions entry, undone after)."""
    app = create_app(environ=environ)
    client = app.test_client()
    base = "https://127.0.0.1"  # production cookies are Secure: the client sends them on https
    login = client.get(f"{base}/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', login).group(1)
    # Over https Flask-WTF wants a same-origin Referer on every form post.
    client.environ_base["HTTP_REFERER"] = f"{base}/recommendations"
    answer = client.post(
        f"{base}/login",
        data={"username": "bench", "password": "benchmark password", "csrf_token": token},
    )
    assert answer.status_code == 302, answer.status_code

    def timed(method: str, path: str, **kwargs: object) -> tuple[float, str]:
        started = time.perf_counter()
        response = client.open(f"{base}{path}", method=method, **kwargs)
        elapsed = 1000 * (time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        return elapsed, response.get_data(as_text=True)

    page = timed("GET", "/recommendations")[1]  # cold: features and predictions made
    shown = re.findall(r'name="shown" value="(\d+)"', page)
    more = "/recommendations?page=2&part=more" + "".join(f"&shown={i}" for i in shown)
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    cases = {
        "page (order=match)": ("GET", "/recommendations", {}),
        "page order=rating": ("GET", "/recommendations?order=rating", {}),
        "page genre=Drama, 1990-2005": (
            "GET",
            "/recommendations?genre=Drama&year_min=1990&year_max=2005",
            {},
        ),
        "page 3": ("GET", "/recommendations?page=3", {}),
        "show more (htmx)": ("GET", more, {"headers": htmx}),
        "catalogue sort=predicted (62,000 ordered)": ("GET", "/?sort=predicted", {}),
        "catalogue sort=title (reference)": ("GET", "/?sort=title", {}),
    }
    results: dict[str, list[float]] = {}
    for name, (method, path, kwargs) in cases.items():
        timed(method, path, **kwargs)  # warm this response
        results[name] = [timed(method, path, **kwargs)[0] for _ in range(repeats)]
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.username == "bench"))
    # The page's state as its htmx controls send it (.page-state): the list's options, the
    # parts to refresh and the card ids.
    state = {"order": "match", "parts": "discover", "shown": shown}
    for film_list, path in ((lists.HIDDEN, "/hidden"), (lists.WATCHLIST, "/watchlist")):
        times = []
        for movie_id in shown[:repeats]:
            form = {"from": "recommendations", **state}
            elapsed, html = timed("POST", f"{path}/{movie_id}", data=form, headers=htmx)
            assert 'hx-swap-oob="beforeend:#recs"' in html and 'id="rec-count"' in html
            times.append(elapsed)
        with app.app_context():
            for movie_id in shown[:repeats]:
                lists.remove(db.session, film_list, user_id, int(movie_id))
        label = "not interested" if film_list is lists.HIDDEN else "watch later"
        results[f"{label} + next card + count (htmx)"] = times
    # A rating in place: the ratings change, so the predictions entry is updated (not warm),
    # then the other cards' predictions and the count are refreshed; removed again after.
    rate_times, remove_times = [], []
    for movie_id in shown[: max(repeats // 2, 3)]:
        elapsed, html = timed(
            "POST", f"/ratings/{movie_id}", data={"rating": "4", **state}, headers=htmx
        )
        assert 'id="rec-count"' in html and html.count('id="status-') >= 19
        rate_times.append(elapsed)
        remove_times.append(
            timed("POST", f"/ratings/{movie_id}/delete", data=state, headers=htmx)[0]
        )
    results["rate in place, other cards + count (htmx)*"] = rate_times
    results["remove that rating again (htmx)*"] = remove_times
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration per endpoint")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--repeats", type=int, default=7, help="repeats of the in-process timing")
    parser.add_argument("--port", type=int, help="the server's port (default: a free one)")
    parser.add_argument(
        "--pages-only", action="store_true", help="time only the recommendations page"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        environ, token, spare_movie = build_database(Path(tmp) / "bench.sqlite3", rng)
        print(
            f"database: {CATALOGUE_SIZE:,} movies, 1 user x {USER_RATINGS:,} ratings "
            f"({time.perf_counter() - started:.1f} s to build)"
        )
        if args.pages_only:
            print_pages(recommendations_page_timing(environ, max(args.repeats, 10)))
            return
        port = args.port or free_port()
        log = Path(tmp) / "server.log"
        command = [
            sys.executable,
            "-m",
            "recommender",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ]
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, env={**os.environ, **environ}, stdout=out, stderr=out
            )
        try:
            wait_until_up(port, server, log)
            auth = {"Authorization": f"Bearer {token}"}
            path = "/api/v1/me/recommendations?limit=20"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            first = get(conn, path, auth)
            second = get(conn, path, auth)
            for _ in range(20):  # warm both workers
                get(http.client.HTTPConnection("127.0.0.1", port, timeout=120), path, auth)
            health = load(port, "/healthz", {}, args.seconds, args.clients)
            recommendations = load(port, path, auth, args.seconds, args.clients)
            # The film page of a movie the user has not rated: their prediction, the
            # community figures and "More like this"; warmed on both workers first.
            session = web_session(port)
            film_path = f"/movies/{spare_movie}"
            for _ in range(20):
                get(http.client.HTTPConnection("127.0.0.1", port, timeout=120), film_path, session)
            film_page = load(port, film_path, session, args.seconds, args.clients)
            # The recommendations page, the same way (its list cached per response key).
            for _ in range(20):
                get(
                    http.client.HTTPConnection("127.0.0.1", port, timeout=120),
                    "/recommendations",
                    session,
                )
            recs_page = load(port, "/recommendations", session, args.seconds, args.clients)
        finally:
            server.terminate()
            server.wait(timeout=30)
        incremental, full, rating_only, stale = incremental_against_full(environ, args.repeats)
        pages = recommendations_page_timing(environ, max(args.repeats, 10))

    ratio = recommendations["rate"] / health["rate"]
    print(f"\n{'endpoint':<32}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}")
    rows = (
        ("/healthz", health),
        ("/api/v1/me/recommendations", recommendations),
        ("/movies/{id} (film page)", film_page),
        ("/recommendations (page)", recs_page),
    )
    for name, row in rows:
        print(
            f"{name:<32}{row['rate']:>9.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['count']:>10}"
        )
    print(
        f"\nrecommendations / healthz rate: {ratio:.2f} (goal >= 0.5: "
        f"{'PASS' if ratio >= 0.5 else 'FAIL'})"
    )
    for name, row in (("film page", film_page), ("recommendations page", recs_page)):
        print(
            f"{name} p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms (goal p50 < 100 ms: "
            f"{'PASS' if row['p50'] < 100 else 'FAIL'}; {args.clients} clients on 2 workers)"
        )
    print(
        f"first request (features built, predictions computed): {1000 * first:.0f} ms; "
        f"second (warm): {1000 * second:.1f} ms"
    )
    speedup = full / incremental
    print(
        f"one new rating: incremental {1000 * incremental:.1f} ms vs full recompute "
        f"{1000 * full:.1f} ms = {speedup:.1f}x (goal >= 20x: "
        f"{'PASS' if speedup >= 20 else 'FAIL'}); {stale:,} of "
        f"{CATALOGUE_SIZE - USER_RATINGS - 1:,} rows changed neighbours"
    )
    both = full / rating_only
    print(
        f"computed recommendations (rating + ranking score) {1000 * full:.1f} ms vs rating only "
        f"{1000 * rating_only:.1f} ms = {both:.2f}x (goal <= 1.3x: "
        f"{'PASS' if both <= 1.3 else 'FAIL'})"
    )
    print_pages(pages)


def print_pages(pages: dict[str, list[float]]) -> None:
    print(f"\n{'recommendations page, warm (server ms)':<44}{'median':>9}{'max':>9}  goal < 100 ms")
    for name, times in pages.items():
        # The goal is the warm page's; a rating's answer waits for the engine's incremental
        # update of the predictions entry (bench/api.py's "one new rating" line above).
        verdict = (
            "n/a" if name.endswith("*") else ("PASS" if statistics.median(times) < 100 else "FAIL")
        )
        print(f"{name:<44}{statistics.median(times):>9.1f}{max(times):>9.1f}  {verdict}")
    print(
        "* not warm, no goal: a rating changes the predictions, and the answer waits for the "
        "engine's incremental update of the entry"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
