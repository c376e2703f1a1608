"""Importing a folder (a mounted flash drive): every bundle, in the center's sequence order;
a copy cut short when the drive was pulled out is rejected whole and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from printctl.center.bundles import make_bundle
from printctl.center.keys import CenterKey, generate_center_key, write_key_pair
from printctl.models import Bundle, Record
from printctl.service import Context, UserError, import_bundles, trust_key


@pytest.fixture
def center(ctx: Context, tmp_path: Path) -> CenterKey:
    key = generate_center_key(seed=11)
    trust_key(ctx, write_key_pair(key, tmp_path / "center").public_pem, key.key_id)
    return key


def test_a_drive_is_imported_in_sequence_order_and_a_cut_copy_stores_nothing(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """Files named against their order still import by sequence; the truncated file is
    rejected with its reason, the hidden partial copy is not even looked at."""
    drive = tmp_path / "drive"
    made = {
        seq: make_bundle(tmp_path / f"b{seq}", key=center, count=3, seed=seq, sequence=seq)
        for seq in (1, 2, 3)
    }
    drive.mkdir()
    # Names that sort against the sequence.
    for seq, name in ((3, "a"), (1, "c"), (2, "b")):
        (drive / f"{name}.prr.zip").write_bytes(made[seq].path.read_bytes())
    cut = make_bundle(tmp_path / "b4", key=center, count=3, seed=4, sequence=4)
    data = cut.path.read_bytes()
    (drive / "d.prr.zip").write_bytes(data[: len(data) // 2])  # the drive was pulled out
    (drive / ".e.prr.zip").write_bytes(data)  # a copy still in progress (hidden)
    (drive / "notes.txt").write_text("not a bundle")

    outcomes = import_bundles(ctx, [drive])
    assert [(Path(o.path).name, o.outcome) for o in outcomes] == [
        ("c.prr.zip", "imported"),
        ("b.prr.zip", "imported"),
        ("a.prr.zip", "imported"),
        ("d.prr.zip", "rejected"),
    ]
    assert [o.sequence for o in outcomes[:3]] == [1, 2, 3]
    with Session(ctx.engine) as session:
        assert session.exec(select(func.count()).select_from(Record)).one() == 9
        assert session.exec(select(func.count()).select_from(Bundle)).one() == 3
    again = import_bundles(ctx, [drive])
    assert [o.outcome for o in again] == ["already-imported"] * 3 + ["rejected"]


def test_an_empty_drive_is_a_clear_error(ctx: Context, tmp_path: Path) -> None:
    """A folder without bundles says so instead of importing nothing silently."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no bundles \(\*\.prr\.zip\) in"):
        import_bundles(ctx, [tmp_path / "empty"])
