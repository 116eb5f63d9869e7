"""users.session_epoch: browser sessions that sign-out and a password change can end

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:00:00

Every session and remember-me cookie carries the user's epoch; the user loader refuses a
cookie whose epoch is not the current one. Existing users start at 0, and the sessions issued
before this upgrade (whose id has no epoch) stop working: their users sign in once more.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
