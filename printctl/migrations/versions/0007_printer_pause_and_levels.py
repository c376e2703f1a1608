"""printer pause requests, the job a printer holds, and its last-read levels

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot alter a table in place; on PostgreSQL it is plain ALTERs.
    with op.batch_alter_table('printer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pause_requested_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('current_job', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ribbon_panels_left', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cards_in_hopper', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('status_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('printer', schema=None) as batch_op:
        batch_op.drop_column('status_at')
        batch_op.drop_column('cards_in_hopper')
        batch_op.drop_column('ribbon_panels_left')
        batch_op.drop_column('current_job')
        batch_op.drop_column('pause_requested_by')
