"""The service's settings, each with its default and one line on what it does.

``recommender`` loads this file by path when an app starts (it is never imported as a module,
so it cannot clash with another ``config``). To change settings without editing it, point
``RECOMMENDER_CONFIG`` at a file of the same form holding only the settings you change; an
environment variable of the same name wins over both files. Every value is checked at start
(recommender/settings.py): a bad one stops the app with the setting's name.
"""

# development, testing or production: production needs SECRET_KEY and sends cookies over HTTPS only.
RECOMMENDER_ENV = "production"
# Signs session cookies. Empty: required in production (at least 32 bytes, not one repeated
# character), made up per process elsewhere.
SECRET_KEY = ""
# Host names the site answers to, comma-separated (".example.org" also takes its subdomains);
# a request for any other Host is a 400. Empty: required in production, localhost elsewhere.
ALLOWED_HOSTS = ""
# How long "keep me signed in" lasts, in days.
REMEMBER_DAYS = 30
# SQLAlchemy URL of the database. Empty: the SQLite file instance/recommender.sqlite3.
DATABASE_URL = ""
# k: how many neighbours a prediction is made from (a user with k or fewer ratings is cold).
RECOMMENDER_K = 10
# The rating scale: lowest rating, highest rating and the step between two ratings.
RATING_MIN = 0.5
RATING_MAX = 5.0
RATING_STEP = 0.5
# werkzeug hash for new passwords (scrypt or pbkdf2:...). Empty: scrypt, a cheap pbkdf2 in testing.
PASSWORD_HASH_METHOD = ""
# How long a SQLite writer waits for the lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Lifetime of an API token, in hours.
TOKEN_TTL_HOURS = 720
# An import "running" this long is failed at start even if its process may live elsewhere.
IMPORT_STALE_HOURS = 24
# Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed.
TRUSTED_PROXIES = 0
# Largest request body (an upload), in MiB: anything bigger is a 413 before a view reads it.
MAX_UPLOAD_MB = 50
# Threads one computed recommendation's neighbour search uses (0: the CPUs this process may
# use, at most 4). BLAS is held at one thread meanwhile (recommender/engine/parallel.py).
ENGINE_THREADS = 0
# Most movies the catalogue may hold: an import that would go over it is refused, writing nothing.
MAX_CATALOGUE_MOVIES = 200_000
# Redis URL (redis://, rediss://, unix://) of the prediction cache. Empty: in-process cache.
CACHE_URL = ""
# Redis URL of the background-job queue (RQ) for the admin page's imports and evaluations, run
# by `recommender worker`. Empty (or no worker listening): a worker thread of the web process.
REDIS_URL = ""
# Memory bound of the in-process prediction cache, in MiB.
CACHE_MAX_MB = 256
# How long Redis keeps a cached entry, in seconds.
CACHE_TTL_SECONDS = 86_400
# How often a process checks the catalogue for a new feature version, in seconds.
FEATURE_CHECK_SECONDS = 2
# `retrain` learns item factors from the ratings once there are at least this many.
FACTOR_MIN_RATINGS = 1000
# Where rate-limit counters live (memory:// or a Redis URL). Empty: CACHE_URL, else memory.
RATELIMIT_STORAGE_URL = ""
# Failed sign-ins allowed per client address, form and API together.
LOGIN_RATE_LIMIT = "10 per minute"
# API tokens issued per client address.
TOKEN_RATE_LIMIT = "60 per hour"
# Accounts created per client address, form and API together.
SIGNUP_RATE_LIMIT = "20 per hour"
