"""jobs, job_uploads and evaluations: background imports and evaluations from the admin page

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 21:20:00

``jobs``: one row per background job (an import or an evaluation), its progress and outcome;
a partial unique index allows one active (queued or running) job of each kind. ``job_uploads``:
the uploaded file an import job reads, deleted when the job ends. ``evaluations``: the stored
results of ``recommender evaluate --store`` and of the admin's button.
(Written beside another branch's 0010: whichever merges second renumbers itself 0011 and
re-points its down_revision, so the chain stays linear.)
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"


def upgrade():
    op.create_table(
        'evaluations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('admin_id', sa.Integer(), nullable=True),
        sa.Column('dataset', sa.String(length=500), nullable=False),
        sa.Column('ratings', sa.Integer(), nullable=False),
        sa.Column('folds', sa.Integer(), nullable=False),
        sa.Column('best_k', sa.Integer(), nullable=False),
        sa.Column('rmse', sa.Float(), nullable=False),
        sa.Column('mae', sa.Float(), nullable=False),
        sa.Column('top_n', sa.JSON(), nullable=False),
        sa.Column('curve', sa.JSON(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ['admin_id'], ['users.id'], name=op.f('fk_evaluations_admin_id_users'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations')),
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index('ix_evaluations_created_at', ['created_at'], unique=False)

    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('filename', sa.String(length=500), nullable=True),
        sa.Column('admin_id', sa.Integer(), nullable=True),
        sa.Column('import_run_id', sa.Integer(), nullable=True),
        sa.Column('evaluation_id', sa.Integer(), nullable=True),
        sa.Column('progress_done', sa.BigInteger(), nullable=True),
        sa.Column('progress_total', sa.BigInteger(), nullable=True),
        sa.Column('message', sa.String(length=4000), nullable=True),
        sa.Column('backend', sa.String(length=10), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('hostname', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['admin_id'], ['users.id'], name=op.f('fk_jobs_admin_id_users'), ondelete='SET NULL'
        ),
        sa.ForeignKeyConstraint(
            ['evaluation_id'], ['evaluations.id'], name=op.f('fk_jobs_evaluation_id_evaluations'),
            ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['import_run_id'], ['import_runs.id'], name=op.f('fk_jobs_import_run_id_import_runs'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(
            'uq_jobs_one_active_kind',
            ['kind'],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )

    op.create_table(
        'job_uploads',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['job_id'], ['jobs.id'], name=op.f('fk_job_uploads_job_id_jobs'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_uploads')),
    )


def downgrade():
    op.drop_table('job_uploads')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_jobs_one_active_kind')
    op.drop_table('jobs')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluations_created_at')
    op.drop_table('evaluations')
