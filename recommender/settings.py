"""The app's settings: read once at start, checked there, then held by the app as one object.

Values come in layers, each over the one before: the defaults in the top-level ``config.py``
(loaded by path: recommender/bundled.py), the settings file ``RECOMMENDER_CONFIG`` names,
the environment, and the overrides a caller hands ``create_app`` (tests pin a small
``RECOMMENDER_K`` that way). A value that cannot be parsed raises :class:`ConfigError` naming
the setting, so a typo fails at start-up instead of surfacing as a strange prediction later.

The result is a frozen :class:`Settings`; routes read it with :func:`current_settings` and pass
plain values on to the services. :meth:`Settings.flask_config` is what Flask and its
extensions read from ``app.config``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flask import Config, Flask, current_app
from limits import parse_many

from recommender.bundled import DEFAULTS_FILE
from recommender.engine.scale import RatingScale

ENVIRONMENTS = ("development", "testing", "production")
# A generated key: what the SECRET_KEY errors tell an operator to run.
MAKE_A_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"
# 256 bits: a shorter or patterned key can be found offline from any one signed session
# cookie, and then signs a cookie for any account.
MIN_SECRET_KEY_BYTES = 32
# Where development and tests are served: the test client's "localhost", `make demo`'s
# 127.0.0.1. (Werkzeug cannot match a bracketed IPv6 address against a list.)
LOCAL_HOSTS = ("localhost", "127.0.0.1")
# A host name as Werkzeug matches it: letters, digits, dots and hyphens, no port; a leading
# dot also accepts every subdomain.
HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*", re.ASCII)
# Where create_app keeps the app's Settings.
EXTENSION_KEY = "recommender.settings"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, parsed and checked (README's configuration table)."""

    env: str
    secret_key: str = field(repr=False)  # never in a log line
    allowed_hosts: tuple[str, ...]
    remember_days: int
    database_url: str
    k: int
    rating_scale: RatingScale
    password_hash_method: str
    sqlite_busy_timeout_ms: int
    token_ttl_hours: int
    import_stale_hours: int
    trusted_proxies: int
    max_upload_mb: int
    max_catalogue_movies: int
    engine_threads: int
    cache_url: str | None
    cache_max_mb: int
    cache_ttl_seconds: int
    feature_check_seconds: int
    factor_min_ratings: int
    ratelimit_storage_url: str
    login_rate_limit: str
    token_rate_limit: str
    signup_rate_limit: str
    # The background-job queue (RQ) of the admin page's imports and evaluations; None: a
    # worker thread of the web process runs them.
    redis_url: str | None = None

    def flask_config(self) -> dict[str, Any]:
        """The ``app.config`` keys Flask and its extensions read, derived from the settings."""
        production = self.env == "production"
        return {
            "TESTING": self.env == "testing",
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            # Werkzeug answers 413 for any request body above this, before a view reads it.
            "MAX_CONTENT_LENGTH": self.max_upload_mb * 1024 * 1024,
            # Browser session cookies: never readable by scripts, not sent on cross-site posts,
            # and HTTPS-only in production.
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": production,
            "REMEMBER_COOKIE_DURATION": dt.timedelta(days=self.remember_days),
            # Werkzeug answers 400 for a Host header (or a trusted X-Forwarded-Host) not listed.
            "TRUSTED_HOSTS": list(self.allowed_hosts),
            # The OpenAPI document's servers are fixed and relative: APIFlask would otherwise
            # take them from the first request's Host header and cache them for every reader.
            # "/" resolves against the document's own address, so "Try it out" in the docs
            # page calls the origin the page came from.
            "SERVERS": [{"url": "/"}],
            "AUTO_SERVERS": False,
            "JSON_SORT_KEYS": False,
            # Rate limits per client address (recommender/security.py). Tests switch them on
            # only where they test them, so a suite that signs in hundreds of times is never
            # throttled.
            "RATELIMIT_ENABLED": self.env != "testing",
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_url,
        }


def app_settings(app: Flask) -> Settings:
    """The settings ``app`` was built with."""
    return app.extensions[EXTENSION_KEY]


def current_settings() -> Settings:
    """The settings of the app handling the current request or command."""
    return app_settings(current_app)


def read_settings_file(path: str | Path, named_by: str) -> dict[str, Any]:
    """The UPPERCASE names a settings file assigns (Flask's ``from_pyfile``)."""
    values = Config(os.getcwd())
    try:
        values.from_pyfile(os.path.abspath(path))
    except OSError as error:
        raise ConfigError(
            f"{named_by} names a settings file that cannot be read: {error}"
        ) from None
    return dict(values)


@cache
def _defaults() -> Mapping[str, Any]:
    return MappingProxyType(read_settings_file(DEFAULTS_FILE, "the defaults file"))


def setting_names() -> frozenset[str]:
    """The name of every setting (config.py's and the environment's)."""
    return frozenset(_defaults())


class _Values:
    """The settings' raw values, layered, and the parsers that name a bad one."""

    def __init__(self, defaults: Mapping[str, Any], *layers: Mapping[str, Any]) -> None:
        self.defaults = defaults
        self.raw = dict(defaults)
        for layer in layers:
            self.raw.update({name: layer[name] for name in defaults if name in layer})

    def text(self, name: str) -> str:
        """The value as text; an empty one means the default."""
        raw = self.raw[name]
        return str(raw if raw not in (None, "") else self.defaults[name] or "")

    def whole(self, name: str, minimum: int) -> int:
        # Through text: a file's 2.5 is refused like the environment's "2.5", never truncated.
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    def number(self, name: str) -> Decimal:
        raw = self.text(name)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not value.is_finite():
            raise ConfigError(f"{name} must be a finite number, got {raw!r}")
        return value

    def rate_limit(self, name: str) -> str:
        """A Flask-Limiter limit such as ``10 per minute`` (several joined by ``;``)."""
        raw = self.text(name)
        try:
            parse_many(raw)
        except ValueError:
            raise ConfigError(
                f"{name} must be a rate limit such as '10 per minute' or '5/second;100/day', "
                f"got {raw!r}"
            ) from None
        return raw


def _environment(values: _Values) -> str:
    env_name = values.raw["RECOMMENDER_ENV"]
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"RECOMMENDER_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env_name!r}"
        )
    return env_name


def _secret_key(values: _Values, env_name: str) -> str:
    secret_key = values.text("SECRET_KEY")
    if env_name == "production":
        _check_secret_key_strength(secret_key)
    if secret_key:
        return secret_key
    # Development and tests get a per-process key: sessions simply end on restart.
    return os.urandom(32).hex()


def _check_secret_key_strength(secret_key: str) -> None:
    """Refuse a production key anyone could guess: a forged session cookie would open /admin."""
    if not secret_key:
        raise ConfigError(
            f"SECRET_KEY must be set in production (RECOMMENDER_ENV=production); "
            f"generate one with: {MAKE_A_KEY}"
        )
    if len(secret_key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"SECRET_KEY is too short for production: {len(secret_key.encode())} bytes, at least "
            f"{MIN_SECRET_KEY_BYTES} needed; generate one with: {MAKE_A_KEY}"
        )
    if len(set(secret_key)) == 1:
        raise ConfigError(
            f"SECRET_KEY is one character repeated, which anyone could guess; "
            f"generate one with: {MAKE_A_KEY}"
        )


def _allowed_hosts(values: _Values, env_name: str) -> tuple[str, ...]:
    """The host names of ALLOWED_HOSTS, checked; production must list its own."""
    raw = values.text("ALLOWED_HOSTS")
    hosts = tuple(name.strip().lower() for name in raw.split(",") if name.strip())
    if not hosts:
        if env_name == "production":
            raise ConfigError(
                "ALLOWED_HOSTS must be set in production (RECOMMENDER_ENV=production): the host "
                "names the site is reached by, comma-separated, e.g. "
                "ALLOWED_HOSTS=recommender.example.org,www.recommender.example.org"
            )
        return LOCAL_HOSTS
    if bad := [name for name in hosts if not HOST_NAME.fullmatch(name)]:
        raise ConfigError(
            "ALLOWED_HOSTS must be host names without scheme or port, such as example.org or "
            f".example.org (every subdomain), got {', '.join(map(repr, bad))}"
        )
    return hosts


def _rating_scale(values: _Values) -> RatingScale:
    low = values.number("RATING_MIN")
    high = values.number("RATING_MAX")
    step = values.number("RATING_STEP")
    if step <= 0:
        raise ConfigError(f"RATING_STEP must be positive, got {step}")
    if low >= high:
        raise ConfigError(f"RATING_MIN must be below RATING_MAX, got {low} >= {high}")
    if (high - low) % step != 0:
        raise ConfigError(f"RATING_MAX - RATING_MIN must be a multiple of RATING_STEP, got {step}")
    return RatingScale(float(low), float(high), float(step))


def _password_hash_method(values: _Values, env_name: str) -> str:
    # Tests create many users: a cheap hash there, a memory-hard one everywhere else.
    default_hash = "pbkdf2:sha256:1000" if env_name == "testing" else "scrypt"
    hash_method = values.text("PASSWORD_HASH_METHOD") or default_hash
    if not hash_method.startswith(("scrypt", "pbkdf2")):
        raise ConfigError(f"PASSWORD_HASH_METHOD must be scrypt or pbkdf2:..., got {hash_method!r}")
    return hash_method


def _cache_url(values: _Values, name: str = "CACHE_URL") -> str | None:
    url = values.text(name) or None
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must be a redis:// URL, got {url!r}")
    return url


def _rate_limit_storage(values: _Values, cache_url: str | None) -> str:
    """Where rate-limit counters live: Redis shares them between servers, memory is per process."""
    url = values.text("RATELIMIT_STORAGE_URL") or cache_url or "memory://"
    if not url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError(f"RATELIMIT_STORAGE_URL must be memory:// or a redis:// URL, got {url!r}")
    return url


def _layers(
    environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    """The defaults, and the layers over them: settings file, environment, overrides."""
    defaults = _defaults()
    layers: list[Mapping[str, Any]] = []
    if settings_file := environ.get("RECOMMENDER_CONFIG"):
        from_file = read_settings_file(settings_file, "RECOMMENDER_CONFIG")
        if unknown := sorted(set(from_file) - set(defaults)):
            raise ConfigError(
                f"RECOMMENDER_CONFIG file {settings_file} sets unknown settings: "
                + ", ".join(unknown)
            )
        layers.append(from_file)
    return defaults, [*layers, environ, overrides]


def load_settings(
    environ: Mapping[str, str] | None = None,
    instance_path: str | Path = "instance",
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read and check every setting (``environ`` defaults to ``os.environ``)."""
    environ = os.environ if environ is None else environ
    defaults, layers = _layers(environ, overrides or {})
    values = _Values(defaults, *layers)
    env_name = _environment(values)
    cache_url = _cache_url(values)
    return Settings(
        env=env_name,
        secret_key=_secret_key(values, env_name),
        allowed_hosts=_allowed_hosts(values, env_name),
        remember_days=values.whole("REMEMBER_DAYS", minimum=1),
        database_url=values.text("DATABASE_URL")
        or f"sqlite:///{Path(instance_path).resolve() / 'recommender.sqlite3'}",
        k=values.whole("RECOMMENDER_K", minimum=1),
        rating_scale=_rating_scale(values),
        password_hash_method=_password_hash_method(values, env_name),
        sqlite_busy_timeout_ms=values.whole("SQLITE_BUSY_TIMEOUT_MS", minimum=0),
        token_ttl_hours=values.whole("TOKEN_TTL_HOURS", minimum=1),
        import_stale_hours=values.whole("IMPORT_STALE_HOURS", minimum=1),
        trusted_proxies=values.whole("TRUSTED_PROXIES", minimum=0),
        max_upload_mb=values.whole("MAX_UPLOAD_MB", minimum=1),
        max_catalogue_movies=values.whole("MAX_CATALOGUE_MOVIES", minimum=1),
        engine_threads=values.whole("ENGINE_THREADS", minimum=0),
        cache_url=cache_url,
        cache_max_mb=values.whole("CACHE_MAX_MB", minimum=1),
        cache_ttl_seconds=values.whole("CACHE_TTL_SECONDS", minimum=1),
        feature_check_seconds=values.whole("FEATURE_CHECK_SECONDS", minimum=0),
        factor_min_ratings=values.whole("FACTOR_MIN_RATINGS", minimum=1),
        ratelimit_storage_url=_rate_limit_storage(values, cache_url),
        login_rate_limit=values.rate_limit("LOGIN_RATE_LIMIT"),
        token_rate_limit=values.rate_limit("TOKEN_RATE_LIMIT"),
        signup_rate_limit=values.rate_limit("SIGNUP_RATE_LIMIT"),
        redis_url=_cache_url(values, "REDIS_URL"),
    )
