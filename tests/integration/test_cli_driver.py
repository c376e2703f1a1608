"""``printctl driver …`` on the simulators: tables, JSON, exit codes and one-line errors.

The sub-app is invoked directly (typer's CliRunner on ``driver_app``), so these tests do not
depend on how :mod:`printctl.cli` mounts it. Drivers a test needs beyond the built-ins are
served by a monkeypatched ``importlib.metadata.entry_points``, as a plug-in would be.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import structlog
from typer.testing import CliRunner, Result

from drivers.mock import MockEncoder, MockPrinter
from printctl.cli_driver import driver_app
from printctl.hardware import DeviceTimeout

runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(driver_app, list(args), input=input, env={"COLUMNS": "200"})


def one_line_error(result: Result, code: int, expected: str) -> None:
    """A user-facing error: the exit code, a single `error:` line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The commands configure structlog when nothing has; undo that for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


# --------------------------------------------------------------------------- plug-in fakes


class ConsolePrinter(MockPrinter):
    """A protocol-style printer: answers raw commands, fails on "boom"."""

    sent: ClassVar[list[str]] = []

    def send_command(self, text: str) -> str:
        if text == "boom":
            raise DeviceTimeout(f"{self.url}: {text}: no reply")
        ConsolePrinter.sent.append(text)
        return {"Rtp": "Primacy", "Rco;c": "42"}.get(text, "ACK")


@dataclass
class FakeDist:
    name: str


@dataclass
class FakeEntryPoint:
    name: str
    group: str
    target: Any
    dist: FakeDist | None = None

    @property
    def value(self) -> str:
        return f"fake:{self.name}"

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install fake entry points for the duration of a test."""

    def install(*eps: FakeEntryPoint) -> None:
        def entry_points(*, group: str) -> list[FakeEntryPoint]:
            return [ep for ep in eps if ep.group == group]

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return install


# --------------------------------------------------------------------------- list


def test_list_shows_every_builtin_with_origin_and_availability() -> None:
    """`driver list` is a table of kind, scheme, origin and availability covering the built-ins."""
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert "sim" in result.stdout and "mock" in result.stdout and "built-in" in result.stdout
    rows = json.loads(invoke("list", "--json").stdout)
    kinds = {(row["kind"], row["scheme"]) for row in rows if row["origin"] == "built-in"}
    assert {("printer", "sim"), ("encoder", "sim"), ("printer", "mock")} <= kinds
    assert set(rows[0]) >= {"kind", "scheme", "origin", "available", "missing", "install_hint"}


def test_list_shows_an_unavailable_plugin_with_its_install_hint(plugins: Any) -> None:
    """A plug-in whose import fails is listed as unavailable, naming the module and the fix."""
    missing = ImportError("no acme_usb", name="acme_usb")
    plugins(FakeEntryPoint("acme", "printctl.printers", missing, FakeDist("printctl-acme")))
    result = invoke("list")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if "acme" in line)
    assert "no" in line and "acme_usb" in line and "pip install printctl-acme" in line


# --------------------------------------------------------------------------- check


def test_check_sim_passes_every_check() -> None:
    """`driver check sim://` exits 0 with every printer check passed or skipped."""
    result = invoke("check", "sim://")
    assert result.exit_code == 0, result.output
    assert "card-life" in result.stdout and "FAIL" not in result.stdout
    assert "0 failed" in result.stdout


def test_check_misbehaving_sim_fails_with_a_readable_table() -> None:
    """A sim whose status reads time out fails the check (exit 1) with the failures in the table."""
    result = invoke("check", "sim://?fault=status:*:timeout")
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "DeviceTimeout" in result.stdout
    assert "status-counters" in result.stdout
    assert "Traceback" not in result.output


def test_check_json_reports_each_outcome_and_the_verdict() -> None:
    """`--json` gives the URL, kind, counts, verdict and one row per check."""
    data = json.loads(invoke("check", "sim://?fault=feed:1:jam", "--json").stdout)
    assert data["kind"] == "printer" and data["passed"] is False
    outcomes = {row["check"]: row["outcome"] for row in data["results"]}
    assert outcomes["card-life"] == "fail" and outcomes["protocol"] == "pass"
    assert data["counts"]["fail"] == sum(1 for o in outcomes.values() if o == "fail")


def test_check_small_hopper_drains_it() -> None:
    """With ten cards or fewer the empty-hopper check runs instead of being skipped."""
    data = json.loads(invoke("check", "sim://?cards=3", "--json").stdout)
    assert {row["outcome"] for row in data["results"]} == {"pass"}


def test_check_encoder_flag_runs_encoder_checks() -> None:
    """`--encoder` runs the encoder suite on a scheme that is both printer and encoder."""
    data = json.loads(invoke("check", "sim://", "--encoder", "--json").stdout)
    assert data["kind"] == "encoder" and data["passed"] is True
    assert "status-word-mismatch" in {row["check"] for row in data["results"]}


def test_check_detects_an_encoder_only_scheme(plugins: Any) -> None:
    """A scheme registered only as an encoder gets the encoder checks without `--encoder`."""
    plugins(FakeEntryPoint("bench", "printctl.encoders", MockEncoder))
    data = json.loads(invoke("check", "bench://", "--json").stdout)
    assert data["kind"] == "encoder" and data["passed"] is True


def test_check_spy_adds_the_call_log() -> None:
    """`--spy` prints the driver calls after the table and adds them to the JSON."""
    result = invoke("check", "sim://", "--spy")
    assert result.exit_code == 0, result.output
    assert "driver calls (--spy)" in result.stdout and "print_card" in result.stdout
    data = json.loads(invoke("check", "sim://", "--spy", "--json").stdout)
    assert {"open", "feed", "eject", "close"} <= {call["name"] for call in data["calls"]}


def test_check_unknown_scheme_is_one_line_exit_2() -> None:
    """An unknown scheme is one error line naming the known drivers, exit 2, no table."""
    result = invoke("check", "nosuch://x")
    one_line_error(result, 2, "unknown driver 'nosuch'")
    assert "sim" in result.stderr and result.stdout == ""


def test_check_unknown_option_is_one_line_exit_2() -> None:
    """A misspelt URL option is rejected in one line before any check runs."""
    one_line_error(invoke("check", "sim://?cardz=5"), 2, "unknown option 'cardz'")


def test_check_unavailable_driver_gives_its_install_hint(plugins: Any) -> None:
    """An unavailable driver fails in one line that says how to install what is missing."""
    missing = ImportError("no acme_usb", name="acme_usb")
    plugins(FakeEntryPoint("acme", "printctl.printers", missing, FakeDist("printctl-acme")))
    one_line_error(invoke("check", "acme://"), 2, "install with: pip install printctl-acme")


# --------------------------------------------------------------------------- status


def test_status_shows_capabilities_and_counters() -> None:
    """`driver status` shows the model, hopper, counters and card position."""
    result = invoke("status", "sim://?cards=7&counter=12&serial=S9")
    assert result.exit_code == 0, result.output
    for text in ("printctl-sim", "S9", "cards in hopper", "7", "12", "card position"):
        assert text in result.stdout


def test_status_json_has_capabilities_status_and_spy_calls() -> None:
    """`status --json --spy` gives capabilities, status and the open/capabilities/status/close calls."""
    data = json.loads(invoke("status", "sim://?cards=7", "--json", "--spy").stdout)
    assert data["capabilities"]["model"] == "printctl-sim"
    assert data["status"]["cards_in_hopper"] == 7 and data["status"]["state"] == "ready"
    assert [c["name"] for c in data["calls"]] == ["open", "capabilities", "status", "close"]


def test_status_permission_denied_is_one_line_with_the_udev_hint() -> None:
    """A refused open is one line pointing at `driver udev-rules`, exit 3."""
    result = invoke("status", "sim://?fault=open:*:denied")
    one_line_error(result, 3, "udev-rules")
    assert "[permission-denied]" in result.stderr


def test_status_offline_device_is_one_line_exit_3() -> None:
    """A device that does not answer is one line with its error code, exit 3."""
    one_line_error(invoke("status", "sim://?fault=status:*:offline"), 3, "[offline]")


def test_status_refuses_an_encoder_only_scheme(plugins: Any) -> None:
    """`status` on an encoder-only scheme says to use test-encode, exit 2."""
    plugins(FakeEntryPoint("bench", "printctl.encoders", MockEncoder))
    one_line_error(invoke("status", "bench://"), 2, "is an encoder driver")


# --------------------------------------------------------------------------- test-print


def test_test_print_without_yes_refuses_when_it_cannot_ask() -> None:
    """Without --yes and without a terminal, test-print refuses to use a blank (exit 2)."""
    one_line_error(invoke("test-print", "sim://"), 2, "pass --yes")


def test_test_print_with_yes_uses_exactly_one_blank() -> None:
    """`test-print --yes` feeds, prints and ejects one card: counters +1, hopper -1."""
    data = json.loads(invoke("test-print", "sim://?cards=5", "--yes", "--json").stdout)
    assert data["change"]["cards_inserted"] == 1
    assert data["change"]["cards_in_hopper"] == -1
    assert data["change"]["panels_printed"] == 6
    assert data["label"] == "test-card"


def test_test_print_table_shows_before_after_and_change() -> None:
    """The human output is a counters table with the +1 change."""
    result = invoke("test-print", "sim://", "--yes")
    assert result.exit_code == 0, result.output
    assert "cards inserted" in result.stdout and "+1" in result.stdout


def test_test_print_on_a_monochrome_simplex_printer_drops_colour_and_back() -> None:
    """The test card is fitted to the printer: one K panel on a monochrome simplex printer."""
    data = json.loads(
        invoke("test-print", "sim://?colour=false&duplex=false", "--yes", "--json").stdout
    )
    assert data["change"]["panels_printed"] == 1


def test_test_print_jam_says_where_the_blank_went() -> None:
    """A jam during the test print is one line, exit 3, saying the blank is spoiled; --spy goes to stderr."""
    result = invoke("test-print", "sim://?fault=print:1:jam", "--yes", "--spy")
    one_line_error(result, 3, "the blank is spoiled")
    assert "[media-jam]" in result.stderr and "driver calls (--spy)" in result.stderr


# --------------------------------------------------------------------------- test-encode


def test_test_encode_reads_the_uid_and_runs_get_uid() -> None:
    """`test-encode` prints the UID and the GET UID script's consistent answer."""
    data = json.loads(invoke("test-encode", "sim://", "--json", "--spy").stdout)
    assert len(data["uid"]) == 14 and data["uid"] == data["script_uid"] and data["consistent"]
    assert [c["name"] for c in data["calls"]] == [
        "open",
        "detect",
        "read_uid",
        "run_script",
        "close",
    ]
    assert data["calls"][3]["args"] == "1 command"
    human = invoke("test-encode", "sim://")
    assert human.exit_code == 0 and data["uid"] in human.stdout


def test_test_encode_without_a_card_is_one_line_exit_3() -> None:
    """No card on the reader is one line telling the technician to put one there."""
    one_line_error(invoke("test-encode", "sim://?fault=detect:1:nocard"), 3, "no card")


def test_test_encode_status_word_mismatch_is_one_line_exit_3() -> None:
    """An unexpected status word on GET UID is one line with the status words."""
    one_line_error(invoke("test-encode", "sim://?fault=run:1:sw6A82"), 3, "6A82")


def test_test_encode_refuses_a_printer_only_scheme(plugins: Any) -> None:
    """`test-encode` on a printer-only scheme is one line, exit 2."""
    plugins(FakeEntryPoint("proto", "printctl.printers", ConsolePrinter))
    one_line_error(invoke("test-encode", "proto://"), 2, "is a printer driver")


# --------------------------------------------------------------------------- console


def test_console_sends_each_command_option_and_prints_replies(plugins: Any) -> None:
    """`console --command` sends each command in order and prints each reply."""
    plugins(FakeEntryPoint("proto", "printctl.printers", ConsolePrinter))
    ConsolePrinter.sent = []
    result = invoke("console", "proto://", "-c", "Rtp", "-c", "Rco;c")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Primacy", "42"]
    assert ConsolePrinter.sent == ["Rtp", "Rco;c"]


def test_console_reads_stdin_until_quit_and_survives_a_failing_command(plugins: Any) -> None:
    """Stdin lines are sent until `quit`; a failing command prints one error line and exit is 1."""
    plugins(FakeEntryPoint("proto", "printctl.printers", ConsolePrinter))
    ConsolePrinter.sent = []
    result = invoke("console", "proto://", input="Rtp\n\n# note\nboom\nRco;c\nquit\nRtp\n")
    assert result.exit_code == 1, result.output
    assert ConsolePrinter.sent == ["Rtp", "Rco;c"]
    assert result.stdout.splitlines() == ["Primacy", "42"]
    assert "error: boom:" in result.stderr and "[timeout]" in result.stderr


def test_console_on_a_driver_without_send_command_says_so() -> None:
    """A driver with no raw console is told apart in one line, exit 2."""
    one_line_error(invoke("console", "sim://", "-c", "Rtp"), 2, "has no raw console")


# --------------------------------------------------------------------------- udev-rules


def test_udev_rules_cover_evolis_and_the_install_steps() -> None:
    """The rules give the group access to Evolis (0f49) and say how to install and reload."""
    result = invoke("udev-rules")
    assert result.exit_code == 0
    rule = 'SUBSYSTEM=="usb", ATTRS{idVendor}=="0f49", MODE="0660", GROUP="printctl"'
    assert rule in result.stdout
    for text in ("/etc/udev/rules.d/60-printctl.rules", "udevadm control --reload", "usblp"):
        assert text in result.stdout
    assert '"076b"' in result.stdout  # HID Omnikey readers


def test_udev_rules_take_a_group_and_reject_a_bad_one() -> None:
    """--group changes the group in every rule; a name udev cannot take is refused."""
    result = invoke("udev-rules", "--group", "cardlab")
    assert 'GROUP="cardlab"' in result.stdout and 'GROUP="printctl"' not in result.stdout
    one_line_error(invoke("udev-rules", "--group", 'x" RUN+="evil'), 2, "not a valid group name")


# --------------------------------------------------------------------------- probe


def test_probe_json_has_three_sections_without_hardware() -> None:
    """`probe --json` always returns the usb, pcsc and serial sections with their fields."""
    result = invoke("probe", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"usb", "pcsc", "serial"}
    for section in data.values():
        assert set(section) == {"library", "available", "error", "hint", "devices"}
        assert isinstance(section["devices"], list)


def test_probe_says_how_to_install_each_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyusb, pyscard and pyserial each section says `not available` and what to install."""
    for module in ("usb", "usb.core", "smartcard", "smartcard.System", "serial", "serial.tools"):
        monkeypatch.setitem(sys.modules, module, None)
    data = json.loads(invoke("probe", "--json").stdout)
    assert [data[k]["available"] for k in ("usb", "pcsc", "serial")] == [False] * 3
    assert data["usb"]["hint"] == "pip install 'printctl[usb]'"
    assert data["pcsc"]["hint"] == "pip install 'printctl[pcsc]'"
    human = invoke("probe").stdout
    assert human.count("not available") == 3 and "printctl[serial]" in human


def test_probe_marks_an_evolis_printer_and_reports_permission_trouble(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A USB device of Evolis's vendor id is a card printer; unreadable strings give the udev hint."""
    usb_core = pytest.importorskip("usb.core")
    usb_util = pytest.importorskip("usb.util")

    @dataclass
    class FakeDevice:
        idVendor: int  # noqa: N815 - pyusb's attribute names
        idProduct: int  # noqa: N815
        iManufacturer: int = 1  # noqa: N815
        iProduct: int = 2  # noqa: N815
        iSerialNumber: int = 3  # noqa: N815
        bDeviceClass: int = 0  # noqa: N815
        bus: int = 1
        address: int = 4

        def __iter__(self) -> Iterator[Any]:
            return iter(())

    def get_string(dev: Any, index: int) -> str:
        raise ValueError("The device has no langid (permission issue, ...)")

    def find(**_: Any) -> list[FakeDevice]:
        return [FakeDevice(0x0F49, 0x0A00), FakeDevice(0x1D6B, 0x0002)]

    monkeypatch.setattr(usb_core, "find", find)
    monkeypatch.setattr(usb_util, "get_string", get_string)
    usb = json.loads(invoke("probe", "--json").stdout)["usb"]
    assert [d["id"] for d in usb["devices"]] == ["0f49:0a00"]  # the root hub is not listed
    device = usb["devices"][0]
    assert device["looks_like"] == "card printer" and device["known_vendor"] == "Evolis"
    assert device["problem"] == "permission denied"
    assert "udev-rules" in usb["hint"]
    everything = json.loads(invoke("probe", "--all", "--json").stdout)["usb"]
    assert len(everything["devices"]) == 2


# --------------------------------------------------------------------------- simulate


def test_simulate_evolis_needs_a_place_to_serve() -> None:
    """`simulate evolis` without --tcp or --pty is one line, exit 2."""
    one_line_error(invoke("simulate", "evolis"), 2, "--tcp PORT and/or --pty")


def test_simulate_evolis_runs_the_simulator_with_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command hands port, pty and options to drivers.evolis.simulator.run_simulator."""
    simulator = pytest.importorskip("drivers.evolis.simulator")
    seen: list[tuple[int | None, bool, str]] = []

    def run_simulator(tcp_port: int | None = None, pty: bool = False, options: str = "") -> None:
        seen.append((tcp_port, pty, options))

    monkeypatch.setattr(simulator, "run_simulator", run_simulator)
    result = invoke("simulate", "evolis", "--tcp", "9100", "--options", "cards=5")
    assert result.exit_code == 0, result.output
    assert seen == [(9100, False, "cards=5")]


def test_simulate_evolis_without_the_simulator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the simulator module cannot be imported the command says so in one line."""
    monkeypatch.setitem(sys.modules, "drivers.evolis.simulator", None)
    one_line_error(invoke("simulate", "evolis", "--pty"), 2, "Evolis simulator is not available")
