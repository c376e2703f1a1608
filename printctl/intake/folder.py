"""Bundles from a folder (a mounted flash drive): which files, and in which order.

The order is the center's ``sequence`` from each bundle's manifest, read without trusting it
(the import checks the signature, as for any file). A file that cannot be peeked at (a copy cut
short when the drive was pulled out, a stray file) sorts last and is rejected by the import with
its reason; nothing of it is stored.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

#: The suffix of PRR bundle files (spec §1).
BUNDLE_SUFFIX = ".prr.zip"
_MANIFEST_PEEK_BYTES = 1 << 20


def _sequence(path: Path) -> int | None:
    """The manifest's sequence, or None when the file cannot say."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("manifest.json")
            if info.file_size > _MANIFEST_PEEK_BYTES:
                return None
            manifest = json.loads(zf.read(info).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError):
        return None
    sequence = manifest.get("sequence") if isinstance(manifest, dict) else None
    if isinstance(sequence, int) and not isinstance(sequence, bool):
        return sequence
    return None


def bundles_in(folder: Path) -> list[Path]:
    """The bundle files directly in ``folder``, in sequence order (unreadable ones last).

    Hidden files (``.name``, e.g. a copy in progress or macOS's ``._`` shadows) are skipped.
    """
    files = [
        p
        for p in folder.iterdir()
        if p.name.endswith(BUNDLE_SUFFIX) and not p.name.startswith(".") and p.is_file()
    ]
    keyed = [(_sequence(p), p.name, p) for p in files]
    keyed.sort(key=lambda k: (k[0] is None, k[0] if k[0] is not None else 0, k[1]))
    return [p for _seq, _name, p in keyed]


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; each folder replaced by its bundles in sequence order."""
    out: list[Path] = []
    for path in paths:
        out.extend(bundles_in(path) if path.is_dir() else [path])
    return out
