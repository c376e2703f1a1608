"""Event bundles (spec §5) and receipts: round trips, deterministic bytes, every rejection rule."""

from __future__ import annotations

import base64
import io
import json
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printctl.sync.eventbundle import (
    EVENTS_FORMAT,
    EventBundleRejected,
    SigningKey,
    create_signing_key,
    event_bundle_bytes,
    load_signing_key,
    public_pem,
    read_event_bundle,
    read_receipt,
    receipt_bytes,
    write_event_bundle,
    write_receipt,
)

AT = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)
STATION = SigningKey(
    key_id="kuansing-1",
    issuer="kuansing-1",
    private_key=Ed25519PrivateKey.from_private_bytes(bytes(range(32))),
)
OTHER = SigningKey(
    key_id="kuansing-1",
    issuer="kuansing-1",
    private_key=Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))),
)
TRUSTED = {STATION.key_id: STATION.public_key()}


def events(n: int = 3) -> list[dict[str, Any]]:
    """``n`` valid events of mixed types."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        event: dict[str, Any] = {
            "event_id": f"ev-{i:04d}",
            "type": ["CARD_PRINTED", "CARD_HANDED_OVER", "BLANK_SPOILED"][i % 3],
            "record_id": f"PRR-2026-{i:06d}",
            "version": 1,
            "nik": "1409015708900001",
            "station": "kuansing-1",
            "at": "2026-11-27T21:14:03Z",
        }
        if event["type"] == "BLANK_SPOILED":
            event["reason"] = "ribbon break"
        out.append(event)
    return out


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16 if name == symlink else 0o100644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def resigned(members: dict[str, bytes], manifest: dict[str, Any]) -> bytes:
    """Re-sign ``manifest`` with the station key (so only the rule under test breaks)."""
    manifest_bytes = json.dumps(manifest).encode()
    signature = base64.b64encode(STATION.private_key.sign(manifest_bytes)) + b"\n"
    return rezip({**members, "manifest.json": manifest_bytes, "manifest.sig": signature})


def good() -> bytes:
    return event_bundle_bytes(events(), key=STATION, bundle_id="ev-bundle-1", created_at=AT)


def rejection(data: bytes) -> str:
    with pytest.raises(EventBundleRejected) as info:
        read_event_bundle(data, trusted_keys=TRUSTED)
    return info.value.reason


# ---------------------------------------------------------------------------- round trips


def test_round_trip_returns_the_events_in_order_with_the_manifest_fields() -> None:
    parsed = read_event_bundle(good(), trusted_keys=TRUSTED)
    assert parsed.bundle_id == "ev-bundle-1"
    assert parsed.issuer == "kuansing-1"
    assert parsed.key_id == "kuansing-1"
    assert parsed.created_at == AT
    assert list(parsed.events) == events()


def test_manifest_and_events_jsonl_have_the_spec_shape() -> None:
    members = members_of(good())
    assert set(members) == {"manifest.json", "manifest.sig", "events.jsonl"}
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == EVENTS_FORMAT
    assert manifest["created_at"] == "2026-11-27T21:30:00Z"
    assert manifest["members"]["events.jsonl"]["count"] == 3
    lines = members["events.jsonl"].split(b"\n")
    assert lines[-1] == b""  # every line ends with \n
    first = json.loads(lines[0])
    assert list(first) == sorted(first)  # sorted keys


def test_same_inputs_give_byte_identical_bundles() -> None:
    assert good() == good()
    later = event_bundle_bytes(
        events(), key=STATION, bundle_id="ev-bundle-1", created_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert later != good()


def test_empty_bundle_round_trips() -> None:
    data = event_bundle_bytes([], key=STATION, bundle_id="empty", created_at=AT)
    assert read_event_bundle(data, trusted_keys=TRUSTED).events == ()


def test_write_event_bundle_names_the_file_by_bundle_id_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    path = write_event_bundle(
        tmp_path / "out", events(), key=STATION, bundle_id="ev-bundle-1", created_at=AT
    )
    assert path == tmp_path / "out" / "ev-bundle-1.events.zip"
    assert path.read_bytes() == good()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_writer_refuses_events_the_reader_would_reject() -> None:
    with pytest.raises(ValueError, match="reason"):
        event_bundle_bytes(
            [{**events(3)[2], "reason": ""}], key=STATION, bundle_id="b", created_at=AT
        )
    with pytest.raises(ValueError, match="twice"):
        event_bundle_bytes(events(1) * 2, key=STATION, bundle_id="b", created_at=AT)
    with pytest.raises(ValueError, match="bundle id"):
        event_bundle_bytes(events(), key=STATION, bundle_id="../x", created_at=AT)


# ---------------------------------------------------------------------------- keys


def test_created_key_is_private_to_its_owner_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "station.key.pem"
    key = create_signing_key(path, key_id="st-9", issuer="kuansing-9")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_signing_key(path, key_id="st-9", issuer="kuansing-9")
    assert public_pem(loaded.public_key()) == public_pem(key.public_key())
    assert public_pem(key.public_key()).startswith(b"-----BEGIN PUBLIC KEY-----")


def test_create_signing_key_never_overwrites_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "station.key.pem"
    create_signing_key(path, key_id="st-9", issuer="kuansing-9")
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        create_signing_key(path, key_id="st-9", issuer="kuansing-9")
    assert path.read_bytes() == before


def test_load_signing_key_names_a_file_that_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "junk.pem"
    path.write_text("not a key")
    with pytest.raises(ValueError, match=r"junk\.pem"):
        load_signing_key(path, key_id="x", issuer="y")


# ---------------------------------------------------------------------------- rejections


def test_not_a_zip_is_rejected() -> None:
    assert "not a ZIP" in rejection(b"PK but not really")


def test_path_traversal_member_is_rejected() -> None:
    members = members_of(good())
    members["../evil"] = b"x"
    assert "'..'" in rejection(rezip(members))


def test_symlink_member_is_rejected() -> None:
    members = members_of(good())
    members["link"] = b"/etc/passwd"
    assert "symbolic link" in rejection(rezip(members, symlink="link"))


def test_tampered_events_are_rejected_by_their_sha256() -> None:
    members = members_of(good())
    data = members["events.jsonl"]
    members["events.jsonl"] = data.replace(b"CARD_PRINTED", b"CARD_PRINTEX")  # same length
    assert "does not match its SHA-256" in rejection(rezip(members))


def test_bad_signature_is_rejected() -> None:
    data = event_bundle_bytes(events(), key=OTHER, bundle_id="ev-bundle-1", created_at=AT)
    assert "does not verify" in rejection(data)


def test_signature_that_is_not_base64_is_rejected() -> None:
    members = members_of(good())
    members["manifest.sig"] = b"!!!not base64!!!\n"
    assert "not valid base64" in rejection(rezip(members))


def test_missing_signature_is_rejected() -> None:
    members = members_of(good())
    del members["manifest.sig"]
    assert "no manifest.sig" in rejection(rezip(members))


def test_unknown_key_is_rejected() -> None:
    stranger = SigningKey("kuansing-7", "kuansing-7", STATION.private_key)
    data = event_bundle_bytes(events(), key=stranger, bundle_id="b", created_at=AT)
    assert "'kuansing-7', which is not a trusted key" in rejection(data)


def test_unlisted_member_is_rejected() -> None:
    members = members_of(good())
    members["extra.txt"] = b"smuggled"
    assert "'extra.txt' is not listed" in rejection(rezip(members))


def test_manifest_listing_another_member_is_rejected() -> None:
    members = members_of(good())
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["photos/a.jpg"] = {"sha256": "0" * 64, "bytes": 1}
    assert "holds only events.jsonl" in rejection(resigned(members, manifest))


def test_missing_events_member_is_rejected() -> None:
    members = members_of(good())
    del members["events.jsonl"]
    assert "listed in the manifest but missing" in rejection(rezip(members))


def test_size_mismatch_is_rejected() -> None:
    members = members_of(good())
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["events.jsonl"]["bytes"] += 1
    assert "the manifest says" in rejection(resigned(members, manifest))


def test_count_mismatch_is_rejected() -> None:
    members = members_of(good())
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["events.jsonl"]["count"] = 4
    assert "has 3 lines, the manifest count says 4" in rejection(resigned(members, manifest))


def test_wrong_format_is_rejected() -> None:
    members = members_of(good())
    manifest = json.loads(members["manifest.json"])
    manifest["format"] = "prr-bundle/1"
    assert "expected 'events-bundle/1'" in rejection(resigned(members, manifest))


def test_naive_created_at_is_rejected() -> None:
    members = members_of(good())
    manifest = json.loads(members["manifest.json"])
    manifest["created_at"] = "2026-11-27T21:30:00"
    assert "created_at" in rejection(resigned(members, manifest))


def bundle_with_lines(lines: list[bytes]) -> bytes:
    """A correctly signed and listed bundle around arbitrary events.jsonl lines."""
    import hashlib

    data = b"".join(line + b"\n" for line in lines)
    manifest = {
        "format": EVENTS_FORMAT,
        "bundle_id": "raw",
        "issuer": "kuansing-1",
        "key_id": STATION.key_id,
        "created_at": "2026-11-27T21:30:00Z",
        "members": {
            "events.jsonl": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "count": len(lines),
            }
        },
    }
    return resigned({"events.jsonl": data}, manifest)


def as_line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("change", "reason_part"),
    [
        ({"event_id": ""}, "no event_id"),
        ({"event_id": 7}, "no event_id"),
        ({"type": "CARD_BURNED"}, "not an event type"),
        ({"record_id": None}, "no record_id"),
        ({"version": "1"}, "no whole-number version"),
        ({"version": True}, "no whole-number version"),
        ({"at": "2026-11-27T21:14:03"}, "time zone"),
        ({"at": "yesterday"}, "time zone"),
        ({"type": "RECORD_QUARANTINED"}, "gives no reason"),
        ({"type": "BLANK_SPOILED", "reason": "  "}, "gives no reason"),
    ],
)
def test_bad_event_shape_rejects_the_whole_bundle(change: dict[str, Any], reason_part: str) -> None:
    first, second = events(2)
    reason = rejection(bundle_with_lines([as_line(first), as_line({**second, **change})]))
    assert reason.startswith("events.jsonl line 2 ")
    assert reason_part in reason


def test_a_line_that_is_not_an_object_is_rejected() -> None:
    assert "line 1 is not a JSON object" in rejection(bundle_with_lines([b"[1, 2]"]))
    assert "line 1 is not valid UTF-8 JSON" in rejection(bundle_with_lines([b"{nope"]))


def test_an_event_id_repeated_within_a_bundle_is_rejected() -> None:
    first = as_line(events(1)[0])
    assert "repeats event 'ev-0000' of line 1" in rejection(bundle_with_lines([first, first]))


def test_spoils_and_quarantines_may_name_no_record_but_a_printed_card_must() -> None:
    """A blank spoiled in the vault and an unparseable quarantined line have no record; a
    printed or handed-over card always has one."""
    first, second, third = events(3)
    lines = [
        as_line(
            {
                **first,
                "type": "BLANK_SPOILED",
                "reason": "damaged",
                "record_id": None,
                "version": None,
            }
        ),
        as_line(
            {
                **second,
                "type": "RECORD_QUARANTINED",
                "reason": "line is not JSON",
                "record_id": "PRR-X",
                "version": None,
            }
        ),
    ]
    parsed = read_event_bundle(bundle_with_lines(lines), trusted_keys=TRUSTED)
    assert [e["record_id"] for e in parsed.events] == [None, "PRR-X"]
    printed = as_line({**third, "type": "CARD_PRINTED", "record_id": None, "version": None})
    assert "no record_id" in rejection(bundle_with_lines([printed]))


def test_a_valid_hand_built_bundle_passes() -> None:
    """The rejection tests above break one thing each; the same builder otherwise passes."""
    parsed = read_event_bundle(
        bundle_with_lines([as_line(e) for e in events()]), trusted_keys=TRUSTED
    )
    assert len(parsed.events) == 3


# ---------------------------------------------------------------------------- receipts


CENTER = SigningKey(
    "pusat-receipts-01", "DUKCAPIL-PUSAT", Ed25519PrivateKey.from_private_bytes(bytes(32))
)


def test_receipt_round_trip(tmp_path: Path) -> None:
    path = write_receipt(
        tmp_path,
        events_bundle_id="ev-bundle-1",
        accepted=["ev-0000", "ev-0001"],
        duplicates=["ev-0002"],
        key=CENTER,
        at=AT,
    )
    assert path.name == "ev-bundle-1.receipt.zip"
    receipt = read_receipt(path.read_bytes(), trusted_keys={CENTER.key_id: CENTER.public_key()})
    assert receipt.events_bundle_id == "ev-bundle-1"
    assert receipt.issuer == "DUKCAPIL-PUSAT"
    assert receipt.key_id == CENTER.key_id
    assert receipt.accepted == ("ev-0000", "ev-0001")
    assert receipt.duplicates == ("ev-0002",)
    assert receipt.at == AT


def test_receipt_from_an_untrusted_key_is_rejected() -> None:
    data = receipt_bytes(events_bundle_id="b", accepted=["e"], duplicates=[], key=CENTER, at=AT)
    with pytest.raises(EventBundleRejected, match="not a trusted key"):
        read_receipt(data, trusted_keys=TRUSTED)
    # A station key under the center's key id does not make it verify either.
    with pytest.raises(EventBundleRejected, match="does not verify"):
        read_receipt(data, trusted_keys={CENTER.key_id: STATION.public_key()})


def test_an_event_bundle_is_not_a_receipt() -> None:
    with pytest.raises(EventBundleRejected, match="a receipt has only a manifest"):
        read_receipt(good(), trusted_keys=TRUSTED)
