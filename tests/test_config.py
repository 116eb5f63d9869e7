"""Settings come from the environment; bad ones fail at start with the variable's name."""

from __future__ import annotations

import pytest

from recommender.config import ConfigError, load_config


def test_defaults_are_a_sqlite_file_in_the_instance_folder(tmp_path):
    config = load_config({"RECOMMENDER_ENV": "development"}, instance_path=tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'recommender.sqlite3'}"
    assert config["RECOMMENDER_K"] == 10
    assert (config["RATING_MIN"], config["RATING_MAX"], config["RATING_STEP"]) == (0.5, 5.0, 0.5)


def test_environment_overrides_defaults():
    config = load_config(
        {
            "RECOMMENDER_ENV": "production",
            "SECRET_KEY": "s3cret",
            "DATABASE_URL": "postgresql+psycopg://db/recommender",
            "RECOMMENDER_K": "25",
            "RATING_MIN": "1",
            "RATING_MAX": "10",
            "RATING_STEP": "1",
        }
    )
    assert config["SECRET_KEY"] == "s3cret"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/recommender"
    assert config["RECOMMENDER_K"] == 25
    assert (config["RATING_MIN"], config["RATING_MAX"], config["RATING_STEP"]) == (1, 10, 1)


def test_production_is_the_default_and_needs_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY must be set in production"):
        load_config({})


@pytest.mark.parametrize("env_name", ["development", "testing"])
def test_development_and_testing_make_up_a_secret_key(env_name):
    assert len(load_config({"RECOMMENDER_ENV": env_name})["SECRET_KEY"]) >= 32


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
    ],
)
def test_malformed_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"RECOMMENDER_ENV": "development", **environ})


def test_testing_uses_a_cheap_password_hash_and_production_a_memory_hard_one():
    assert load_config({"RECOMMENDER_ENV": "testing"})["PASSWORD_HASH_METHOD"].startswith("pbkdf2")
    production = load_config({"SECRET_KEY": "x"})
    assert production["PASSWORD_HASH_METHOD"] == "scrypt"


def test_readme_lists_every_setting_the_app_reads():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    source = (root / "recommender" / "config.py").read_text()
    read = set(re.findall(r"environ(?:\.get\(|, )\"([A-Z_]+)\"", source))
    readme = (root / "README.md").read_text()
    assert {"DATABASE_URL", "SECRET_KEY", "RECOMMENDER_K", "CACHE_URL"} <= read
    assert sorted(name for name in read if f"`{name}`" not in readme) == []
