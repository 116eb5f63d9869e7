"""`recommender users create-admin` and `recommender serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import sqlalchemy as sa
from werkzeug.security import check_password_hash

from recommender.extensions import db
from recommender.models import User


def test_create_admin_with_password_option(runner):
    result = runner.invoke(args=["users", "create-admin", "alice", "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "alice"))
    assert user.is_admin
    assert user.password_hash != "correct horse"
    assert check_password_hash(user.password_hash, "correct horse")


def test_create_admin_prompts_for_the_password_when_absent(runner):
    result = runner.invoke(
        args=["users", "create-admin", "bob"], input="long enough\nlong enough\n"
    )
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    user = db.session.scalar(sa.select(User).where(User.username == "bob"))
    assert check_password_hash(user.password_hash, "long enough")


def test_create_admin_refuses_a_taken_name_and_changes_nothing(runner):
    runner.invoke(args=["users", "create-admin", "alice", "--password", "first password"])
    result = runner.invoke(args=["users", "create-admin", "alice", "--password", "second one!"])
    assert result.exit_code == 1
    assert "Error: User 'alice' already exists" in result.output
    user = db.session.scalar(sa.select(User).where(User.username == "alice"))
    assert check_password_hash(user.password_hash, "first password")


def test_create_admin_refuses_short_passwords_and_bad_names(runner):
    short = runner.invoke(args=["users", "create-admin", "carol", "--password", "short"])
    bad_name = runner.invoke(args=["users", "create-admin", "a b", "--password", "long enough"])
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    assert bad_name.exit_code == 1 and "Username must be" in bad_name.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_wrong_flag_is_a_usage_error(runner):
    result = runner.invoke(args=["users", "create-admin", "dave", "--admin-level", "9"])
    assert result.exit_code == 2
    assert "No such option '--admin-level'" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_healthz_over_http(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "RECOMMENDER_ENV": "testing", "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "recommender", "serve", "--port", str(port), "--workers", "1"]
    log_path = tmp_path / "server.log"
    with (
        log_path.open("wb") as log,
        subprocess.Popen(command, env=env, stdout=log, stderr=log) as server,
    ):
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        assert r.status == 200 and b'"ok"' in r.read()
                        break
                except OSError:
                    assert server.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "server did not answer within 20 s"
                    time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_console_script_reports_a_configuration_error_cleanly():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "RECOMMENDER_ENV")}
    result = subprocess.run(
        [sys.executable, "-m", "recommender", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_same_commands_work_under_flask_app_recommender(database_url):
    env = {**os.environ, "RECOMMENDER_ENV": "testing", "DATABASE_URL": database_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "recommender.app",
            "import",
            "catalogue",
            "--help",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--sample" in result.stdout and "--if-empty" in result.stdout
