"""run_checks, the table behind ``printctl driver check URL``: rows, skips and failures."""

from __future__ import annotations

from drivers.conformance import (
    ENCODER_CHECKS,
    PRINTER_CHECKS,
    blank_card_image,
    run_checks,
)
from printctl.hardware import PANEL_SIZE
from printctl.registry import make_encoder, make_printer


def test_all_printer_checks_pass_on_the_simulator() -> None:
    """Every printer check gives one passing row, in order, for a small-hopper simulator."""
    rows = run_checks(lambda: make_printer("sim://?cards=5"), PRINTER_CHECKS)
    assert [r.check for r in rows] == [c.name for c in PRINTER_CHECKS]
    assert {r.outcome for r in rows} == {"pass"}


def test_feed_empty_is_skipped_where_the_hopper_is_unknown_or_large() -> None:
    """The empty-hopper check is skipped with a reason rather than wasting blanks."""
    mock = {r.check: r for r in run_checks(lambda: make_printer("mock://"), PRINTER_CHECKS)}
    big = {r.check: r for r in run_checks(lambda: make_printer("sim://"), PRINTER_CHECKS)}
    assert mock["feed-on-empty-hopper"].outcome == "skip"
    assert big["feed-on-empty-hopper"].outcome == "skip"
    assert "100 cards" in big["feed-on-empty-hopper"].detail


def test_faulty_printer_fails_the_right_checks() -> None:
    """A printer that jams on its first print fails card-life with the error, not the runner."""
    rows = {
        r.check: r
        for r in run_checks(
            lambda: make_printer("sim://?cards=5&fault=print:1:jam"), PRINTER_CHECKS
        )
    }
    assert rows["card-life"].outcome == "fail"
    assert rows["card-life"].detail.startswith("CardJam: sim://")
    assert rows["reject-path"].outcome == "pass"


def test_faulty_encoder_fails_the_right_checks() -> None:
    """An encoder whose every script meets 6A82 fails run-script-returns-uid only."""
    rows = {
        r.check: r
        for r in run_checks(lambda: make_encoder("sim://?fault=run:*:sw6A82"), ENCODER_CHECKS)
    }
    assert rows["run-script-returns-uid"].outcome == "fail"
    assert "StatusWordMismatch" in rows["run-script-returns-uid"].detail
    assert rows["status-word-mismatch"].outcome == "pass"
    assert rows["uid-format"].outcome == "pass"


def test_construction_failure_is_a_row() -> None:
    """A URL the registry refuses becomes a failing row per check, never an exception."""
    rows = run_checks(lambda: make_printer("sim://?cardz=5"), PRINTER_CHECKS)
    assert {r.outcome for r in rows} == {"fail"}
    assert "unknown option 'cardz'" in rows[0].detail


def test_blank_card_image_fits_the_panel_size() -> None:
    """The conformance card is white RGB + mode-1 panels at PANEL_SIZE, with an optional back."""
    image = blank_card_image()
    assert image.front.colour is not None and image.front.colour.mode == "RGB"
    assert image.front.black is not None and image.front.black.mode == "1"
    assert image.front.colour.size == image.front.black.size == PANEL_SIZE
    assert image.back is not None
    assert blank_card_image(back=False).back is None
