"""Settings come from the environment; bad ones fail at start with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Config

from recommender.app import create_app
from recommender.bundled import DEFAULTS_FILE
from recommender.engine import parallel
from recommender.settings import ConfigError, app_settings, load_settings, setting_names
from tests.conftest import PRODUCTION, PRODUCTION_SECRETS


def test_defaults_are_a_sqlite_file_in_the_instance_folder(tmp_path):
    settings = load_settings({"RECOMMENDER_ENV": "development"}, instance_path=tmp_path)
    config = settings.flask_config()
    scale = settings.rating_scale
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'recommender.sqlite3'}"
    assert settings.k == 10
    assert (scale.minimum, scale.maximum, scale.step) == (0.5, 5.0, 0.5)


def test_environment_overrides_defaults():
    settings = load_settings(
        {
            **PRODUCTION,
            "DATABASE_URL": "postgresql+psycopg://db/recommender",
            "RECOMMENDER_K": "25",
            "RATING_MIN": "1",
            "RATING_MAX": "10",
            "RATING_STEP": "1",
        }
    )
    config = settings.flask_config()
    scale = settings.rating_scale
    assert config["SECRET_KEY"] == PRODUCTION["SECRET_KEY"]
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/recommender"
    assert settings.k == 25
    assert (scale.minimum, scale.maximum, scale.step) == (1, 10, 1)


def test_production_is_the_default_and_needs_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY must be set in production"):
        load_settings({})


@pytest.mark.parametrize("env_name", ["development", "testing"])
def test_development_and_testing_make_up_a_secret_key(env_name):
    assert len(load_settings({"RECOMMENDER_ENV": env_name}).secret_key) >= 32


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RECOMMENDER_ENV": "staging"}, "RECOMMENDER_ENV must be one of"),
        ({"RECOMMENDER_K": "ten"}, "RECOMMENDER_K must be a whole number, got 'ten'"),
        ({"RECOMMENDER_K": "0"}, "RECOMMENDER_K must be at least 1, got 0"),
        ({"RATING_MIN": "low"}, "RATING_MIN must be a number"),
        ({"RATING_MAX": "nan"}, "RATING_MAX must be a finite number"),
        ({"RATING_MIN": "5", "RATING_MAX": "1"}, "RATING_MIN must be below RATING_MAX"),
        ({"RATING_STEP": "0"}, "RATING_STEP must be positive"),
        ({"RATING_STEP": "0.4"}, "multiple of RATING_STEP"),
        ({"SQLITE_BUSY_TIMEOUT_MS": "-1"}, "SQLITE_BUSY_TIMEOUT_MS must be at least 0"),
        ({"PASSWORD_HASH_METHOD": "md5"}, "PASSWORD_HASH_METHOD must be scrypt or pbkdf2"),
        ({"ENGINE_THREADS": "-1"}, "ENGINE_THREADS must be at least 0"),
        ({"ENGINE_THREADS": "two"}, "ENGINE_THREADS must be a whole number"),
    ],
)
def test_malformed_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"RECOMMENDER_ENV": "development", **environ})


def test_testing_uses_a_cheap_password_hash_and_production_a_memory_hard_one():
    testing = load_settings({"RECOMMENDER_ENV": "testing"})
    assert testing.password_hash_method.startswith("pbkdf2")
    production = load_settings(PRODUCTION_SECRETS)
    assert production.password_hash_method == "scrypt"


def test_readme_lists_every_setting_the_app_reads():
    root = Path(__file__).resolve().parent.parent
    read = setting_names() | {"RECOMMENDER_CONFIG"}
    readme = (root / "README.md").read_text()
    assert {"DATABASE_URL", "SECRET_KEY", "RECOMMENDER_K", "CACHE_URL"} <= read
    assert sorted(name for name in read if f"`{name}`" not in readme) == []


def test_a_settings_file_changes_defaults_and_the_environment_wins_over_it(tmp_path):
    settings_file = tmp_path / "site.py"
    settings_file.write_text("RECOMMENDER_K = 20\nTOKEN_TTL_HOURS = 5\nRATING_MAX = 10\n")
    settings = load_settings(
        {
            "RECOMMENDER_ENV": "testing",
            "RECOMMENDER_CONFIG": str(settings_file),
            "TOKEN_TTL_HOURS": "7",
        }
    )
    assert settings.k == 20
    assert settings.token_ttl_hours == 7
    assert settings.rating_scale.maximum == 10.0
    assert settings.cache_max_mb == 256  # not in the file: config.py's default


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("RECOMMENDER_K = 0\n", "RECOMMENDER_K must be at least 1, got 0"),
        ("RATING_STEP = 'half'\n", "RATING_STEP must be a number"),
        ("RECOMENDER_K = 5\n", "sets unknown settings: RECOMENDER_K"),
    ],
)
def test_a_bad_settings_file_stops_the_app_naming_the_setting(tmp_path, content, message):
    settings_file = tmp_path / "site.py"
    settings_file.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings({"RECOMMENDER_ENV": "testing", "RECOMMENDER_CONFIG": str(settings_file)})


def test_a_missing_settings_file_names_recommender_config(tmp_path):
    with pytest.raises(ConfigError, match="RECOMMENDER_CONFIG names a settings file"):
        load_settings({"RECOMMENDER_ENV": "testing", "RECOMMENDER_CONFIG": str(tmp_path / "x.py")})


def test_the_defaults_are_the_top_level_config_py():
    root = Path(__file__).resolve().parent.parent
    assert root / "config.py" == DEFAULTS_FILE
    defaults = Config(root)
    defaults.from_pyfile(root / "config.py")
    assert setting_names() == set(defaults)


def test_create_app_overrides_reach_the_settings_not_app_config(app):
    assert app_settings(app).k == 3  # tests/conftest.py's override
    assert "RECOMMENDER_K" not in app.config


def test_engine_threads_sets_the_search_threads_of_the_process():
    before = parallel.threads()
    try:
        create_app(environ={"RECOMMENDER_ENV": "testing", "ENGINE_THREADS": "3"})
        assert parallel.threads() == 3
        parallel.set_threads(before)
        # 0 (the default) leaves the process's choice alone.
        create_app(environ={"RECOMMENDER_ENV": "testing", "ENGINE_THREADS": "0"})
        assert parallel.threads() == before
    finally:
        parallel.set_threads(before)
