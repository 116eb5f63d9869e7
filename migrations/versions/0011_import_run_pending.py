"""import run pending: what a SQLite import written in many transactions has committed so far

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:20:00

A large SQLite import commits its rows in short transactions, so that raters are not locked out
for minutes. Until its last transaction it records here the id ranges and links it has
written; a run that fails, or whose process dies, is undone from this record
(``importers.pending``), so the import stays all or nothing.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_column('pending')
