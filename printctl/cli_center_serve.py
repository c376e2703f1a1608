"""``printctl center serve`` and ``printctl center receipt``: the fake center's pull API and its
flash-drive receipts, for demos, tests and operator training (spec ``prr-bundle-v1`` §4–§5).

Registered on the ``center`` sub-app in :mod:`printctl.cli`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from printctl.cli_common import CliError, out
from printctl.sync.eventbundle import SigningKey

DEFAULT_RECEIPT_ISSUER = "DUKCAPIL-PUSAT"

StationKeysOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--station-key",
        help="A station's public key (PEM) whose event bundles to accept; repeatable. The "
        "key id is the file name without .pub/.pem (kuansing-1.pub.pem → kuansing-1).",
    ),
]
ReceiptKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--receipt-key", help="The center's private key (PEM) that signs flash-drive receipts."
    ),
]
ReceiptKeyIdOpt = Annotated[
    str | None,
    typer.Option(
        "--receipt-key-id",
        help="Key id the receipts name (default: the file name without .key/.pem).",
    ),
]


def key_id_from_file(path: Path) -> str:
    """``kuansing-1.pub.pem`` → ``kuansing-1``; ``pusat.key.pem`` → ``pusat``."""
    name = path.name
    for suffix in (".pem", ".pub", ".key"):
        name = name.removesuffix(suffix)
    return name


def _station_keys(paths: list[Path] | None) -> dict[str, Ed25519PublicKey]:
    from printctl.intake.bundle import load_public_key

    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths or []:
        try:
            key = load_public_key(path)
        except FileNotFoundError:
            raise CliError(f"{path}: no such station key file") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
        key_id = key_id_from_file(path)
        if key_id in keys:
            raise CliError(f"two station key files name the key id {key_id!r}")
        keys[key_id] = key
    return keys


def _receipt_key(path: Path | None, key_id: str | None) -> SigningKey | None:
    from printctl.sync.eventbundle import load_signing_key

    if path is None:
        return None
    try:
        return load_signing_key(
            path, key_id=key_id or key_id_from_file(path), issuer=DEFAULT_RECEIPT_ISSUER
        )
    except FileNotFoundError:
        raise CliError(f"{path}: no such key file") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None


def center_serve(
    bundles: Annotated[
        Path, typer.Option("--bundles", help="Folder of *.prr.zip bundles to offer.")
    ],
    token: Annotated[
        str,
        typer.Option(envvar="PRINTCTL_CENTER_TOKEN", help="Bearer token every request must carry."),
    ],
    state: Annotated[Path, typer.Option("--state", help="Folder for the received events.")] = Path(
        "center-state"
    ),
    station_key: StationKeysOpt = None,
    receipt_key: ReceiptKeyOpt = None,
    receipt_key_id: ReceiptKeyIdOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    drop_every: Annotated[
        int, typer.Option(help="Cut every Nth download (and events post) short.")
    ] = 0,
    drop_after_bytes: Annotated[int, typer.Option(help="Bytes sent before a cut.")] = 65536,
    stall_every: Annotated[int, typer.Option(help="Stall every Nth request.")] = 0,
    stall_s: Annotated[float, typer.Option(help="How long a stall lasts, in seconds.")] = 0.0,
    error_every: Annotated[int, typer.Option(help="Answer every Nth request with 500.")] = 0,
    corrupt_every: Annotated[
        int, typer.Option(help="Serve every Nth download with bytes flipped.")
    ] = 0,
    offline_s: Annotated[
        float, typer.Option(help="Start offline: refuse every connection for N seconds.")
    ] = 0.0,
) -> None:
    """Serve the fake center's pull API (spec §4) until Ctrl-C, with optional network faults."""
    from printctl.center.server import CenterServer, FaultSwitches

    if not token:
        raise CliError("--token (or PRINTCTL_CENTER_TOKEN) must not be empty")
    if not bundles.is_dir():
        raise CliError(f"{bundles}: not a folder of bundles")
    for name, value in (
        ("--drop-every", drop_every),
        ("--stall-every", stall_every),
        ("--error-every", error_every),
        ("--corrupt-every", corrupt_every),
        ("--drop-after-bytes", drop_after_bytes),
    ):
        if value < 0:
            raise CliError(f"{name} must not be negative")
    if stall_s < 0 or offline_s < 0:
        raise CliError("--stall-s and --offline-s must not be negative")
    faults = FaultSwitches(
        drop_every=drop_every,
        drop_after_bytes=drop_after_bytes,
        stall_every=stall_every,
        stall_s=stall_s,
        error_every=error_every,
        corrupt_every=corrupt_every,
    )
    stations = _station_keys(station_key)
    try:
        server = CenterServer(
            bundles_dir=bundles,
            state_dir=state,
            token=token,
            station_keys=stations,
            receipt_key=_receipt_key(receipt_key, receipt_key_id),
            faults=faults,
            host=host,
            port=port,
        )
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    if offline_s:
        server.go_offline(offline_s)
    try:
        # Inside the try from the start: a Ctrl-C while the banner is being printed (the
        # URL line is out already, a client may act on it) still stops cleanly.
        server.start()
        out.print(f"Fake center at {server.url} (Ctrl-C to stop)")
        out.print(
            f"Offering {bundles}; accepting events from {len(stations)} station key(s); "
            f"storing them in {state}"
        )
        # Event.wait without a timeout still wakes for Ctrl-C (KeyboardInterrupt) on POSIX.
        threading.Event().wait()
    except KeyboardInterrupt:
        out.print("Stopping.")
    finally:
        server.stop()


def center_receipt(
    events_zip: Annotated[
        Path, typer.Argument(help="An event bundle (*.events.zip) from a flash drive.")
    ],
    receipt_key: Annotated[
        Path, typer.Option("--receipt-key", help="The center's private key (PEM).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the receipt.")],
    state: Annotated[Path, typer.Option("--state", help="The fake center's state folder.")] = Path(
        "center-state"
    ),
    station_key: StationKeysOpt = None,
    receipt_key_id: ReceiptKeyIdOpt = None,
) -> None:
    """Ingest a flash-drive event bundle into the fake center and write its signed receipt."""
    from printctl.center.server import EventStore, ingest_for_receipt
    from printctl.sync.eventbundle import EventBundleRejected, read_receipt, write_receipt

    stations = _station_keys(station_key)
    if not stations:
        raise CliError("give at least one --station-key: events are accepted from known stations")
    key = _receipt_key(receipt_key, receipt_key_id)
    assert key is not None  # the option is required
    try:
        data = events_zip.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{events_zip}: no such file") from None
    try:
        receipt = ingest_for_receipt(
            EventStore(state),
            data,
            station_keys=stations,
            receipt_key=key,
            at=datetime.now(UTC).replace(microsecond=0),
        )
    except EventBundleRejected as exc:
        raise CliError(f"{events_zip.name} rejected: {exc.reason}") from None
    parsed = read_receipt(receipt, trusted_keys={key.key_id: key.public_key()})
    # Receipts are deterministic, so this writes (atomically) exactly the bytes signed above.
    path = write_receipt(
        out_dir,
        events_bundle_id=parsed.events_bundle_id,
        accepted=parsed.accepted,
        duplicates=parsed.duplicates,
        key=key,
        at=parsed.at,
    )
    out.print(
        f"Wrote {path}: {len(parsed.accepted)} event(s) accepted, "
        f"{len(parsed.duplicates)} already received."
    )
