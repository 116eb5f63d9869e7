"""clean text and genres: repair mis-decoded text, one genre vocabulary, genre names unique by case

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:30:00

Databases filled before 0005 hold what the importers now clean on the way in: titles such as
"LÈon" (the sample's mis-decoded text), genres such as "Thriller/Suspense" beside "Thriller",
"Romantic Comedy", "Children's" beside "Children", and no genre where only the creative type
said one. This revision cleans them with the importers' own functions (repair_text,
movie_genres), so a migrated database equals a fresh import, then adds the unique index on
lower(name) that keeps genre names unique regardless of case.

A repaired title that would collide with another movie of the same title and year is left as
it is, with a warning naming both: merging two movies is `recommender movies merge`'s job.
The downgrade drops the index only; repaired text and merged genres stay clean.
"""
import datetime as dt
import logging
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from recommender.importers.genres import genre_key, movie_genres
from recommender.importers.text import repair_text

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TEXT_COLUMNS = ("title", "mpaa", "director", "distributor", "creative_type", "source_material")
movies = sa.table(
    "movies",
    sa.column("id", sa.Integer),
    sa.column("year", sa.Integer),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    *(sa.column(name, sa.String) for name in TEXT_COLUMNS),
)
genres = sa.table("genres", sa.column("id", sa.Integer), sa.column("name", sa.String))
movie_genres_table = sa.table(
    "movie_genres", sa.column("movie_id", sa.Integer), sa.column("genre_id", sa.Integer)
)


def _repair_movie_text(connection):
    """Repair the movies' text columns; return the ids of the movies changed."""
    rows = connection.execute(sa.select(movies.c.id, movies.c.year, *movies.c[TEXT_COLUMNS])).all()
    taken = {(row.title, row.year): row.id for row in rows}
    changed = {}
    for row in rows:
        values = {}
        for name in TEXT_COLUMNS:
            text = getattr(row, name)
            if text is not None and (fixed := repair_text(text)) != text:
                values[name] = fixed
        title = values.get("title")
        if title is not None:
            other = taken.get((title, row.year))
            if other is not None and other != row.id:
                log.warning(
                    "movie %s: title %r reads %r, the title of movie %s of the same year: "
                    "left as it is (merge them with `recommender movies merge %s %s`)",
                    row.id, row.title, title, other, other, row.id,
                )
                del values["title"]
            else:
                taken[(title, row.year)] = row.id
        if values:
            changed[row.id] = values
    for movie_id, values in changed.items():
        connection.execute(sa.update(movies).where(movies.c.id == movie_id).values(**values))
    if changed:
        log.info("repaired mis-decoded text of %d movies", len(changed))
    return set(changed)


def _clean_genres(connection):
    """Put every movie's genres in the one vocabulary; return the ids of the movies changed."""
    names = dict(connection.execute(sa.select(genres.c.id, genres.c.name)).all())
    linked = defaultdict(list)
    for movie_id, genre_id in connection.execute(
        sa.select(movie_genres_table.c.movie_id, movie_genres_table.c.genre_id).order_by(
            movie_genres_table.c.movie_id, movie_genres_table.c.genre_id
        )
    ):
        linked[movie_id].append(genre_id)
    creative = dict(
        connection.execute(
            sa.select(movies.c.id, movies.c.creative_type).where(movies.c.creative_type.is_not(None))
        ).all()
    )
    # The spelling each genre key will have: the oldest row's name, or the canonical one.
    spelling = {}
    for genre_id in sorted(names):
        for name in movie_genres([names[genre_id]]):
            spelling.setdefault(genre_key(name), name)
    wanted = {}
    for movie_id in set(linked) | set(creative):
        current = [names[genre_id] for genre_id in linked.get(movie_id, [])]
        new = movie_genres(current, creative.get(movie_id))
        for name in new:
            spelling.setdefault(genre_key(name), name)
        wanted[movie_id] = [genre_key(name) for name in new]

    # One row per key: the row spelled as wanted, else the oldest of that key renamed (no other
    # row has the wanted name then, so the rename meets no unique constraint); new rows for
    # the keys no row has yet ("Sci-Fi" where only "Science Fiction" was).
    keep = {}
    for genre_id in sorted(names):
        key = genre_key(names[genre_id])
        spelled_as_wanted = names[genre_id] == spelling.get(key)
        if key not in keep or (spelled_as_wanted and names[keep[key]] != spelling[key]):
            keep[key] = genre_id
    id_of = {}
    for key, name in spelling.items():
        if key in keep:
            id_of[key] = keep[key]
            if names[keep[key]] != name:
                connection.execute(
                    sa.update(genres).where(genres.c.id == keep[key]).values(name=name)
                )
        else:
            id_of[key] = connection.execute(
                sa.insert(genres).values(name=name).returning(genres.c.id)
            ).scalar_one()

    changed = set()
    for movie_id, keys in wanted.items():
        new_ids = list(dict.fromkeys(id_of[key] for key in keys))
        if sorted(new_ids) != sorted(linked.get(movie_id, [])):
            changed.add(movie_id)
            connection.execute(
                sa.delete(movie_genres_table).where(movie_genres_table.c.movie_id == movie_id)
            )
            if new_ids:
                connection.execute(
                    sa.insert(movie_genres_table),
                    [{"movie_id": movie_id, "genre_id": genre_id} for genre_id in new_ids],
                )
    # Aliases ("Thriller/Suspense") and case duplicates are linked to nothing now.
    obsolete = sorted(set(names) - set(id_of.values()))
    if obsolete:
        connection.execute(
            sa.delete(movie_genres_table).where(movie_genres_table.c.genre_id.in_(obsolete))
        )
        connection.execute(sa.delete(genres).where(genres.c.id.in_(obsolete)))
        log.info(
            "merged genres into the vocabulary: removed %s",
            ", ".join(repr(names[genre_id]) for genre_id in obsolete),
        )
    return changed


def upgrade():
    connection = op.get_bind()
    changed = _repair_movie_text(connection) | _clean_genres(connection)
    # A new updated_at changes the catalogue's digest, so the feature version is rebuilt.
    now = dt.datetime.now(dt.UTC)
    changed_ids = sorted(changed)
    for start in range(0, len(changed_ids), 500):
        chunk = changed_ids[start : start + 500]
        connection.execute(sa.update(movies).where(movies.c.id.in_(chunk)).values(updated_at=now))
    op.create_index("uq_genres_lower_name", "genres", [sa.text("lower(name)")], unique=True)


def downgrade():
    op.drop_index("uq_genres_lower_name", table_name="genres")
