"""Production refuses a SECRET_KEY anyone could guess: with one, a session cookie can be forged."""

from __future__ import annotations

import secrets

import pytest

from recommender.settings import MAKE_A_KEY, ConfigError, load_settings
from tests.conftest import PRODUCTION


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("secret", "SECRET_KEY is too short for production: 6 bytes, at least 32"),
        (secrets.token_hex(15) + "a", "SECRET_KEY is too short for production: 31 bytes"),
        ("k" * 64, "SECRET_KEY is one character repeated"),
        ("x" * 32, "SECRET_KEY is one character repeated"),
    ],
)
def test_production_refuses_a_weak_secret_key(key, message):
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings({**PRODUCTION, "SECRET_KEY": key})
    # The message says how to make a good one.
    assert MAKE_A_KEY in str(refused.value)
    assert "secrets.token_hex(32)" in MAKE_A_KEY


def test_a_weak_key_cannot_start_the_app_and_forge_a_session(make_app):
    # On main SECRET_KEY=secret started, and {"_user_id": "1"} signed with it opened /admin.
    with pytest.raises(ConfigError, match="SECRET_KEY is too short"):
        make_app(**{**PRODUCTION, "SECRET_KEY": "secret"})


def test_a_generated_key_is_accepted_and_multibyte_characters_count_as_bytes():
    assert load_settings({**PRODUCTION, "SECRET_KEY": secrets.token_hex(32)})
    # 16 characters of two bytes each: 32 bytes.
    assert load_settings({**PRODUCTION, "SECRET_KEY": "é" + "ü" * 15})


@pytest.mark.parametrize("env_name", ["development", "testing"])
def test_development_and_testing_take_any_key(env_name):
    assert load_settings({"RECOMMENDER_ENV": env_name, "SECRET_KEY": "dev"}).secret_key == "dev"
