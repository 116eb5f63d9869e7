"""Settings read once from the environment and handed to ``create_app``.

Each setting is one environment variable; README's configuration table lists them all. A value
that cannot be parsed raises :class:`ConfigError` naming the variable, so a typo fails at start-up
instead of surfacing as a strange prediction later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _decimal(environ: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = environ.get(name) or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value.is_finite():
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value


def _rating_scale(environ: Mapping[str, str]) -> tuple[float, float, float]:
    low = _decimal(environ, "RATING_MIN", "0.5")
    high = _decimal(environ, "RATING_MAX", "5.0")
    step = _decimal(environ, "RATING_STEP", "0.5")
    if step <= 0:
        raise ConfigError(f"RATING_STEP must be positive, got {step}")
    if low >= high:
        raise ConfigError(f"RATING_MIN must be below RATING_MAX, got {low} >= {high}")
    if (high - low) % step != 0:
        raise ConfigError(f"RATING_MAX - RATING_MIN must be a multiple of RATING_STEP, got {step}")
    return float(low), float(high), float(step)


def _cache_url(environ: Mapping[str, str]) -> str | None:
    url = environ.get("CACHE_URL") or None
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"CACHE_URL must be a redis:// URL, got {url!r}")
    return url


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    """A Flask-Limiter limit such as ``10 per minute`` (several joined by ``;``)."""
    from limits import parse_many

    raw = environ.get(name) or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate limit such as '10 per minute' or '5/second;100/day', "
            f"got {raw!r}"
        ) from None
    return raw


def _rate_limit_storage(environ: Mapping[str, str], cache_url: str | None) -> str:
    """Where rate-limit counters live: Redis shares them between servers, memory is per process."""
    url = environ.get("RATELIMIT_STORAGE_URL") or cache_url or "memory://"
    if not url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError(f"RATELIMIT_STORAGE_URL must be memory:// or a redis:// URL, got {url!r}")
    return url


def load_config(
    environ: Mapping[str, str] | None = None, instance_path: str | Path = "instance"
) -> dict[str, Any]:
    """Read every setting from ``environ`` (default: ``os.environ``) into a Flask config dict."""
    environ = os.environ if environ is None else environ
    env_name = environ.get("RECOMMENDER_ENV", "production")
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"RECOMMENDER_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env_name!r}"
        )

    secret_key = environ.get("SECRET_KEY", "")
    if not secret_key:
        if env_name == "production":
            raise ConfigError(
                "SECRET_KEY must be set in production (RECOMMENDER_ENV=production); "
                "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        # Development and tests get a per-process key: sessions simply end on restart.
        secret_key = os.urandom(32).hex()

    database_url = environ.get("DATABASE_URL") or (
        f"sqlite:///{Path(instance_path).resolve() / 'recommender.sqlite3'}"
    )
    rating_min, rating_max, rating_step = _rating_scale(environ)
    # Tests create many users: a cheap hash there, a memory-hard one everywhere else.
    default_hash = "pbkdf2:sha256:1000" if env_name == "testing" else "scrypt"
    hash_method = environ.get("PASSWORD_HASH_METHOD") or default_hash
    cache_url = _cache_url(environ)
    if not hash_method.startswith(("scrypt", "pbkdf2")):
        raise ConfigError(f"PASSWORD_HASH_METHOD must be scrypt or pbkdf2:..., got {hash_method!r}")
    return {
        "RECOMMENDER_ENV": env_name,
        "TESTING": env_name == "testing",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RECOMMENDER_K": _int(environ, "RECOMMENDER_K", default=10, minimum=1),
        "RATING_MIN": rating_min,
        "RATING_MAX": rating_max,
        "RATING_STEP": rating_step,
        "PASSWORD_HASH_METHOD": hash_method,
        "SQLITE_BUSY_TIMEOUT_MS": _int(environ, "SQLITE_BUSY_TIMEOUT_MS", default=5000, minimum=0),
        "TOKEN_TTL_HOURS": _int(environ, "TOKEN_TTL_HOURS", default=720, minimum=1),
        # A run "running" this long is failed at start even if its process may live elsewhere.
        "IMPORT_STALE_HOURS": _int(environ, "IMPORT_STALE_HOURS", default=24, minimum=1),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed:
        # without it, every client behind one proxy shares one rate-limit counter.
        "TRUSTED_PROXIES": _int(environ, "TRUSTED_PROXIES", default=0, minimum=0),
        # Werkzeug answers 413 for any request body above this, before a view reads it.
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_UPLOAD_MB", default=50, minimum=1) * 1024 * 1024,
        "CACHE_URL": cache_url,
        "CACHE_MAX_MB": _int(environ, "CACHE_MAX_MB", default=256, minimum=1),
        "CACHE_TTL_SECONDS": _int(environ, "CACHE_TTL_SECONDS", default=86_400, minimum=1),
        "FEATURE_CHECK_SECONDS": _int(environ, "FEATURE_CHECK_SECONDS", default=2, minimum=0),
        # `retrain` learns item factors from the ratings once there are at least this many.
        "FACTOR_MIN_RATINGS": _int(environ, "FACTOR_MIN_RATINGS", default=1000, minimum=1),
        "MAX_PER_PAGE": 100,
        # Browser session cookies: never readable by scripts, not sent on cross-site posts,
        # and HTTPS-only in production.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env_name == "production",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env_name == "production",
        "JSON_SORT_KEYS": False,
        # Rate limits per client address (recommender/security.py). Tests switch them on only
        # where they test them, so a suite that signs in hundreds of times is never throttled.
        "RATELIMIT_ENABLED": env_name != "testing",
        "RATELIMIT_STORAGE_URI": _rate_limit_storage(environ, cache_url),
        "LOGIN_RATE_LIMIT": _rate_limit(environ, "LOGIN_RATE_LIMIT", "10 per minute"),
        "TOKEN_RATE_LIMIT": _rate_limit(environ, "TOKEN_RATE_LIMIT", "60 per hour"),
        "SIGNUP_RATE_LIMIT": _rate_limit(environ, "SIGNUP_RATE_LIMIT", "20 per hour"),
    }
