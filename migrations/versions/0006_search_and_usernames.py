"""search index over titles and years; usernames unique regardless of case and Unicode form

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 18:40:00

Search: the database keeps the index in step with ``movies`` itself, whatever writes the
rows. SQLite gets an FTS5 external-content table filled by triggers; PostgreSQL a GIN index
on the folded title and year (``unaccent``, a trusted extension since PostgreSQL 13, so the
database owner may create it). The expression is the one ``recommender.services.title_search``
queries with (PG_DOCUMENT), copied here because a migration must not change with the code.

Usernames: ``users.username_key`` (NFKC, casefold, NFKC) with a unique constraint. Existing
names that collide once case and form are ignored stop the upgrade before anything changes,
naming them: an account is never renamed or deleted by a migration.
"""
import unicodedata
from collections import defaultdict

from alembic import op
from alembic.util import CommandError
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None

PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, regexp_replace(recommender_unaccent("
    "movies.title || ' ' || coalesce(movies.year::text, '')), '[^[:alnum:]]+', ' ', 'g'))"
)
PG_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # unaccent() is only STABLE (its dictionary could change); an index needs IMMUTABLE. The
    # dictionary is named with its schema, so a different search_path cannot change the result.
    "CREATE OR REPLACE FUNCTION recommender_unaccent(text) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT"
    " AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$",
    f"CREATE INDEX ix_movies_search ON movies USING gin (({PG_DOCUMENT}))",
]
# The extension stays: other objects may use it, and it costs nothing.
PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_movies_search",
    "DROP FUNCTION IF EXISTS recommender_unaccent(text)",
]
SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE movies_search USING fts5(title, year, content='movies',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER movies_search_insert AFTER INSERT ON movies BEGIN"
    " INSERT INTO movies_search (rowid, title, year) VALUES (new.id, new.title, new.year);"
    " END",
    "CREATE TRIGGER movies_search_delete AFTER DELETE ON movies BEGIN"
    " INSERT INTO movies_search (movies_search, rowid, title, year)"
    " VALUES ('delete', old.id, old.title, old.year); END",
    "CREATE TRIGGER movies_search_update AFTER UPDATE OF title, year ON movies BEGIN"
    " INSERT INTO movies_search (movies_search, rowid, title, year)"
    " VALUES ('delete', old.id, old.title, old.year);"
    " INSERT INTO movies_search (rowid, title, year) VALUES (new.id, new.title, new.year);"
    " END",
    # Index the movies already there.
    "INSERT INTO movies_search (movies_search) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS movies_search_update",
    "DROP TRIGGER IF EXISTS movies_search_delete",
    "DROP TRIGGER IF EXISTS movies_search_insert",
    "DROP TABLE IF EXISTS movies_search",
]


def username_key(username):
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def username_keys(connection):
    """id -> key of every user; raise, naming them, when two users share a key."""
    users = connection.execute(sa.text("SELECT id, username FROM users ORDER BY id")).all()
    holders = defaultdict(list)
    for user_id, username in users:
        holders[username_key(username)].append((user_id, username))
    collisions = [names for names in holders.values() if len(names) > 1]
    if collisions:
        listed = "; ".join(
            " and ".join(f"{username!r} (id {user_id})" for user_id, username in names)
            for names in collisions
        )
        raise CommandError(
            f"usernames {listed} collide once case and Unicode form are ignored; rename one"
            " of each, then upgrade again"
        )
    return {user_id: username_key(username) for user_id, username in users}


def upgrade():
    connection = op.get_bind()
    # First, before any change: a collision leaves the database exactly as it was.
    keys = username_keys(connection)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=255), nullable=True))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username_key', sa.String))
    if keys:
        connection.execute(
            users.update().where(users.c.id == sa.bindparam('user_id')),
            [{'user_id': user_id, 'username_key': key} for user_id, key in keys.items()],
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=255), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_username_key'), ['username_key'])

    statements = PG_UPGRADE if connection.dialect.name == 'postgresql' else SQLITE_UPGRADE
    for statement in statements:
        op.execute(statement)


def downgrade():
    connection = op.get_bind()
    statements = PG_DOWNGRADE if connection.dialect.name == 'postgresql' else SQLITE_DOWNGRADE
    for statement in statements:
        op.execute(statement)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_username_key'), type_='unique')
        batch_op.drop_column('username_key')
