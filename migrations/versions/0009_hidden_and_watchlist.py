"""hidden_movies and watchlist: "Not interested" and "Watch later", and users.lists_version

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 19:40:00

Both lists hold (user, movie) pairs and go with either row (ON DELETE CASCADE); a movie merge
moves them (services/merge.py). users.lists_version is bumped on every change to either list:
it is part of the recommendations response cache key, so a list change shows at once.
(0008 is written in parallel on another branch; whichever merges second re-points its
down_revision so the chain stays linear.)
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def _pair_table(name, stamp):
    op.create_table(
        name,
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('movie_id', sa.Integer(), nullable=False),
        sa.Column(stamp, sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['movie_id'], ['movies.id'], name=op.f(f'fk_{name}_movie_id_movies'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f(f'fk_{name}_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', 'movie_id', name=op.f(f'pk_{name}')),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(f'ix_{name}_movie_id', ['movie_id'], unique=False)


def upgrade():
    _pair_table('hidden_movies', 'created_at')
    _pair_table('watchlist', 'added_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('lists_version', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('lists_version')
    for name in ('watchlist', 'hidden_movies'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{name}_movie_id')
        op.drop_table(name)
