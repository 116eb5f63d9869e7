"""import run process: pid and hostname of the process running an import

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:30:00

A run left "running" by a killed process is marked failed at the next start; the pid and
host tell a dead process on this host from a live import elsewhere.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pid', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hostname', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_column('hostname')
        batch_op.drop_column('pid')
