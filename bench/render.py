"""Benchmark the card renderer: time per card (front + back panels, photo, signature).

Usage::

    python bench/render.py [--cards 200] [--warmup 5]

Prints the median and 95th percentile per card, and a breakdown of one card's steps (layout
with media preparation, K-layer PDF, pdfium rasterisation of K, colour panels). The target
is a median of at most 20 ms per card. Records are synthetic (Pillow-drawn portraits).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw

from printctl.center.sample import sample_record
from printctl.domain import RecordData
from printctl.render import default_template, render_card, renderer_for

NAMES = (
    "SITI AMINAH",
    "MUH. ALI-AKBAR",
    "NI KADEK AYU PUTRI'ANI",
    "ŞÜKRÜ NGUYỄN",
    "MUHAMMAD ABDURRAHMAN WAHYUDI SAPUTRA KUSUMANEGARA PRAWIROHAD",
)


def _portrait(seed: int) -> bytes:
    image = Image.new("RGB", (360, 480), (200, 30 + seed % 50, 40))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 330, 320, 620), fill=(30, 30, 60))
    draw.ellipse((100, 90, 260, 300), fill=(224 - seed % 60, 172, 140))
    draw.ellipse((95, 70, 265, 170), fill=(25, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _signature(seed: int) -> bytes:
    image = Image.new("RGBA", (400, 150), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line(
        [(20, 110), (60, 30 + seed % 20), (90, 120), (130, 40), (200, 60)], fill="black", width=6
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_records(count: int) -> list[RecordData]:
    """``count`` distinct synthetic records (names, photos, signatures vary)."""
    base = sample_record(record_id="PRR-2026-000000", name="")
    photos = [_portrait(i) for i in range(16)]
    signatures = [_signature(i) for i in range(16)]
    return [
        replace(
            base,
            record_id=f"PRR-2026-{i:06d}",
            nik=f"14090157089{i % 10000:05d}"[:16],
            name=NAMES[i % len(NAMES)],
            photo=photos[i % 16],
            signature=signatures[i % 16],
        )
        for i in range(count)
    ]


def _time(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)

    issue = date(2026, 3, 14)
    records = make_records(args.cards)
    start = time.perf_counter()
    render_card(records[0], issue_date=issue)  # template, fonts, artwork cache
    first = (time.perf_counter() - start) * 1000
    for record in records[: args.warmup]:
        render_card(record, issue_date=issue)

    samples = []
    for record in records:
        start = time.perf_counter()
        render_card(record, issue_date=issue)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
    print(f"cards: {len(samples)} (front + back, photo, signature, 1016x648 panels)")
    print(f"first card (cold caches): {first:.1f} ms")
    print(f"per card: median {median:.2f} ms, p95 {p95:.2f} ms, max {samples[-1]:.2f} ms")

    renderer = renderer_for(default_template())
    record = records[len(records) // 2]
    layouts = renderer.engine.layout(record, issue)
    pdf = renderer.black_pdf(layouts)
    n = 50
    steps: list[tuple[str, Callable[[], object]]] = [
        ("layout + photo/signature prep", lambda: renderer.engine.layout(record, issue)),
        ("K layer PDF (ReportLab)", lambda: renderer.black_pdf(layouts)),
        ("K rasterise (pdfium, 2 pages)", lambda: renderer.rasterise_pages(pdf, black=True)),
        ("K panels incl. PDF + signature", lambda: renderer.black_panels(layouts)),
        ("colour panels (art + photo)", lambda: [renderer.colour_panel(s) for s in layouts]),
    ]
    print(f"breakdown (median of {n} runs, one card):")
    for label, step in steps:
        print(f"  {label:<32} {_time(step, n):6.2f} ms")
    return 0 if median <= 20.0 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
