"""job and printer reasons, auto-resume, stations with leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False, server_default=''))
    with op.batch_alter_table('printer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('auto_resume', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('station',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('lease_s', sa.Float(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('station')
    with op.batch_alter_table('printer', schema=None) as batch_op:
        batch_op.drop_column('auto_resume')
        batch_op.drop_column('reasons')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('reasons')
