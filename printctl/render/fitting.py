"""Fitting a value into its box: shrink within limits, then wrap, never clip.

Pure functions over a width measure, so the policy is testable without drawing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Sizes are tried in steps this small (points); finer steps buy nothing visible.
SIZE_STEP = 0.25

Measure = Callable[[str, float], float]  # (text, size in pt) → width in pt


@dataclass(frozen=True)
class Fit:
    """The lines a value is set in, and the size they are set at (points)."""

    lines: tuple[str, ...]
    size: float


def _sizes(size: float, min_size: float) -> list[float]:
    sizes: list[float] = []
    current = size
    while current > min_size + 1e-9:
        sizes.append(round(current, 4))
        current -= SIZE_STEP
    sizes.append(min_size)
    return sizes


def _at_size(measure: Measure, size: float) -> Callable[[str], float]:
    return lambda text: measure(text, size)


def split_lines(words: list[str], lines: int, width_of: Callable[[str], float]) -> list[str]:
    """Split ``words`` into at most ``lines`` lines, the widest line as narrow as possible.

    Breaks only at spaces (a hyphenated name is one word). Exhaustive over break points, which
    is cheap for the dozen words a card field holds.
    """
    n = len(words)
    if lines <= 1 or n <= 1:
        return [" ".join(words)]
    best: list[str] | None = None
    best_width = float("inf")
    for cut in range(1, n):
        head = " ".join(words[:cut])
        head_width = width_of(head)
        if head_width >= best_width:
            break  # heads only get wider from here on
        rest = split_lines(words[cut:], lines - 1, width_of)
        widest = max(head_width, *(width_of(line) for line in rest))
        if widest < best_width:
            best, best_width = [head, *rest], widest
    assert best is not None
    return best


def fit(
    text: str,
    *,
    width: float,
    size: float,
    min_size: float,
    max_lines: int,
    measure: Measure,
) -> Fit | None:
    """Set ``text`` in ``width`` points: one line, shrinking from ``size`` to ``min_size``;
    then 2 … ``max_lines`` lines, again shrinking. ``None`` when nothing fits.

    One line at a smaller size is preferred to two lines at a larger one, as on issued cards.
    """
    text = " ".join(text.split())
    sizes = _sizes(size, min_size)
    for s in sizes:
        if measure(text, s) <= width:
            return Fit(lines=(text,), size=s)
    words = text.split(" ")
    for lines in range(2, max_lines + 1):
        if len(words) < 2:
            break
        for s in sizes:
            width_of = _at_size(measure, s)
            split = split_lines(words, lines, width_of)
            if all(width_of(line) <= width for line in split):
                return Fit(lines=tuple(split), size=s)
    return None
