"""Driver URL parsing and typed, checked options (drivers.urls)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.urls import OptionReader, parse_driver_url
from printctl.hardware import DriverConfigError


@pytest.mark.parametrize(
    ("url", "scheme", "netloc", "host", "port", "path", "options"),
    [
        ("sim://", "sim", "", None, None, "", {}),
        ("sim://?cards=5&ribbon=10", "sim", "", None, None, "", {"cards": "5", "ribbon": "10"}),
        ("evolis+tcp://10.0.0.5:9100", "evolis+tcp", "10.0.0.5:9100", "10.0.0.5", 9100, "", {}),
        (
            "evolis+serial:///dev/ttyUSB0?baud=9600",
            "evolis+serial",
            "",
            None,
            None,
            "/dev/ttyUSB0",
            {"baud": "9600"},
        ),
        ("pcsc://?reader=OMNIKEY%205422", "pcsc", "", None, None, "", {"reader": "OMNIKEY 5422"}),
        (
            "SIM://?fault=status:4+:timeout",
            "sim",
            "",
            None,
            None,
            "",
            {"fault": "status:4+:timeout"},
        ),
        ("sim://?cards=5&", "sim", "", None, None, "", {"cards": "5"}),
    ],
)
def test_parse_splits_url(
    url: str,
    scheme: str,
    netloc: str,
    host: str | None,
    port: int | None,
    path: str,
    options: dict[str, str],
) -> None:
    """A driver URL splits into lower-case scheme, netloc, host, port, path and options (+ kept)."""
    parsed = parse_driver_url(url)
    assert (parsed.scheme, parsed.netloc, parsed.host, parsed.port, parsed.path) == (
        scheme,
        netloc,
        host,
        port,
        path,
    )
    assert parsed.options == options
    assert parsed.raw == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim", "not a driver URL"),
        ("://x", "not a driver URL"),
        ("9sim://", "not a driver URL"),
        ("tcp://host:99999", "bad port"),
        ("sim://#frag", "fragment"),
        ("sim://?cards", "malformed option 'cards'"),
        ("sim://?=5", "malformed option '=5'"),
        ("sim://?cards=1&cards=2", "option 'cards' given more than once"),
    ],
)
def test_parse_rejects_malformed(url: str, message: str) -> None:
    """Malformed URLs raise DriverConfigError naming the problem."""
    with pytest.raises(DriverConfigError, match=message):
        parse_driver_url(url)


def test_unknown_option_lists_known_ones() -> None:
    """An option the driver never read is rejected with the URL and the known names."""
    opts = parse_driver_url("sim://?cardz=5").options_reader()
    opts.get_int("cards", 100)
    opts.get_int("ribbon", 200)
    with pytest.raises(DriverConfigError) as info:
        opts.done()
    assert str(info.value) == "sim://?cardz=5: unknown option 'cardz' (known: cards, ribbon)"


def test_several_unknown_options_are_all_named() -> None:
    """All unknown options are reported at once, not one per attempt."""
    opts = parse_driver_url("mock://?a=1&b=2").options_reader()
    with pytest.raises(DriverConfigError, match=r"unknown options 'a', 'b' \(known: none\)"):
        opts.done()


def test_typed_reads_convert_and_default() -> None:
    """int, float, bool and str reads convert present values and default absent ones."""
    opts = parse_driver_url(
        "sim://?cards=7&card_ms=12.5&duplex=NO&encode=after&serial=S1"
    ).options_reader()
    assert opts.get_int("cards", 100) == 7
    assert opts.get_int("ribbon", 200) == 200
    assert opts.get_float("card_ms", 0.0) == 12.5
    assert opts.get_bool("duplex", True) is False
    assert opts.get_bool("colour", True) is True
    assert opts.get_str("encode", "before", choices=("before", "after")) == "after"
    assert opts.get_optional_str("serial") == "S1"
    assert opts.get_optional_str("model") is None
    opts.done()


@pytest.mark.parametrize(
    ("url", "read", "message"),
    [
        ("x://?n=abc", lambda o: o.get_int("n", 0), "option n='abc': expected an integer"),
        ("x://?n=1.5", lambda o: o.get_int("n", 0), "expected an integer"),
        ("x://?n=-1", lambda o: o.get_int("n", 0, minimum=0), "must be at least 0"),
        ("x://?n=11", lambda o: o.get_int("n", 0, maximum=10), "must be at most 10"),
        ("x://?f=fast", lambda o: o.get_float("f", 0.0), "expected a number"),
        ("x://?f=nan", lambda o: o.get_float("f", 0.0), "expected a finite number"),
        ("x://?b=maybe", lambda o: o.get_bool("b", False), "expected true or false"),
        (
            "x://?s=middle",
            lambda o: o.get_str("s", "a", choices=("before", "after")),
            "expected one of before, after",
        ),
    ],
)
def test_bad_values_are_rejected(
    url: str, read: Callable[[OptionReader], object], message: str
) -> None:
    """A value of the wrong type or out of range raises DriverConfigError prefixed by the URL."""
    opts = parse_driver_url(url).options_reader()
    with pytest.raises(DriverConfigError, match=message) as info:
        read(opts)
    assert str(info.value).startswith(url + ": ")
