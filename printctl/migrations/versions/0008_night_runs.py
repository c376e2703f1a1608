"""night runs and their morning reports; ribbon levels with counter readings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'night_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('window_end', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=True),
        sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('plan', sa.Text(), nullable=False),
        sa.Column('report', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_night_run_station'), 'night_run', ['station'], unique=False)
    with op.batch_alter_table('counter_reading', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ribbon_panels_left', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('counter_reading', schema=None) as batch_op:
        batch_op.drop_column('ribbon_panels_left')
    op.drop_index(op.f('ix_night_run_station'), table_name='night_run')
    op.drop_table('night_run')
