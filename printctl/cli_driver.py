"""``printctl driver …``: the technician's commands for printers and chip encoders.

Mounted by :mod:`printctl.cli` as ``app.add_typer(driver_app, name="driver")``. None of these
commands needs a printctl workspace: they talk to a driver URL directly, which is what a
technician at a bench has.

Exit codes: 0 done; 1 a result that is not an error of the command (a conformance check
failed, a console command raised, a confirmation was declined); 2 a usage or configuration
error (unknown scheme, unavailable driver with its install hint, unknown URL option, a printer
command given an encoder URL); 3 the device failed (offline, timeout, permission denied, a
printer condition). Every error is ONE line on stderr, ``error: …``, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from printctl.hardware import (
    DriverConfigError,
    Encoder,
    HardwareError,
    NoCard,
    PermissionDenied,
    Printer,
    PrinterStatus,
)

if TYPE_CHECKING:
    from drivers.spy import SpyCall

__all__ = [
    "EXIT_DEVICE",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "PRINTER_VENDORS",
    "READER_VENDORS",
    "driver_app",
    "udev_rules",
]

driver_app = typer.Typer(
    help="Printer and encoder drivers: list, check, probe, test and talk to a device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
simulate_app = typer.Typer(
    help="Run a device simulator in the foreground (Ctrl-C to stop).", no_args_is_help=True
)
driver_app.add_typer(simulate_app, name="simulate")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
SpyOpt = Annotated[
    bool, typer.Option("--spy", help="Log every driver call (duration, error) and show the log.")
]
UrlArg = Annotated[str, typer.Argument(help="Driver URL, e.g. sim:// or evolis+usb://?serial=…")]

#: USB vendor ids of card-printer makers (from the usb.ids database, 2025).
PRINTER_VENDORS: dict[int, str] = {
    0x0F49: "Evolis",
    0x0A5F: "Zebra",  # Zebra's id covers its label printers and scanners too
    0x09B0: "Fargo (HID)",
    0x0C1F: "Magicard",
    0x0A27: "Datacard (Entrust)",
}
#: USB vendor ids of PC/SC reader makers (from the usb.ids database, 2025).
READER_VENDORS: dict[int, str] = {
    0x076B: "HID Omnikey",
    0x09C3: "HID Global",
    0x072F: "ACS",
    0x04E6: "Identiv (SCM)",
    0x08E6: "Gemalto",
    0x0C4B: "Reiner SCT",
    0x0CA6: "Castles",
}
_USB_PRINTER_CLASS = 0x07
_USB_SMART_CARD_CLASS = 0x0B
_UDEV_HINT = "see `printctl driver udev-rules`"
_GROUP = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class DriverCliError(Exception):
    """A usage error of a driver command: printed as one line, exit code 2."""


# --------------------------------------------------------------------------- plumbing


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _hardware_message(exc: HardwareError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, PermissionDenied) and "udev" not in text:
        text += f" ({_UDEV_HINT})"
    # Notes a command added on the way up (e.g. where a test print's blank went).
    for note in getattr(exc, "__notes__", ()):
        text += f"; {note}"
    return text


class _Session:
    """The drivers one command builds (spied with --spy), closed exactly once."""

    def __init__(self, *, spy: bool = False) -> None:
        self.calls: list[SpyCall] | None = [] if spy else None
        self._drivers: list[Printer | Encoder] = []

    def printer(self, url: str, *, track: bool = True) -> Printer:
        """Construct (not open) the printer for ``url``; ``track``: close it in :meth:`close`."""
        from printctl.registry import make_printer

        printer = make_printer(url)
        if self.calls is not None:
            from drivers.spy import SpyPrinter

            printer = SpyPrinter(printer, calls=self.calls)
        if track:
            self._drivers.append(printer)
        return printer

    def encoder(self, url: str, *, track: bool = True) -> Encoder:
        """Construct (not open) the encoder for ``url``; ``track``: close it in :meth:`close`."""
        from printctl.registry import make_encoder

        encoder = make_encoder(url)
        if self.calls is not None:
            from drivers.spy import SpyEncoder

            encoder = SpyEncoder(encoder, calls=self.calls)
        if track:
            self._drivers.append(encoder)
        return encoder

    def close(self) -> None:
        """Close every driver, quietly: the command already has its outcome."""
        while self._drivers:
            driver = self._drivers.pop()
            with contextlib.suppress(Exception):
                driver.close()

    def show_calls(self, console: Console) -> None:
        """Print the --spy call log, if any."""
        if self.calls:
            console.print(_spy_table(self.calls))

    def calls_json(self) -> dict[str, Any]:
        """``{"calls": [...]}`` with --spy, else nothing."""
        return {} if self.calls is None else {"calls": [c.as_dict() for c in self.calls]}


@contextlib.contextmanager
def _one_line_errors(session: _Session | None = None) -> Iterator[None]:
    """Turn the errors a technician meets into one line and an exit code; nothing else.

    On an error the session's drivers are closed and its --spy log goes to stderr first, so
    the error line is the last thing printed.
    """
    try:
        yield
    except DriverCliError as exc:
        _wind_up(session)
        _fail(str(exc), EXIT_USAGE)
    except DriverConfigError as exc:
        _wind_up(session)
        _fail(_hardware_message(exc), EXIT_USAGE)
    except HardwareError as exc:
        _wind_up(session)
        _fail(f"{_hardware_message(exc)} [{exc.code}]", EXIT_DEVICE)


def _wind_up(session: _Session | None) -> None:
    if session is not None:
        session.close()
        session.show_calls(err)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _quiet_logs() -> None:
    # Drivers (and the spy) log through structlog, whose unconfigured default prints to
    # stdout and would garble tables and --json; the CLI says what matters itself.
    import structlog

    from printctl.logs import configure_logging

    if not structlog.is_configured():
        configure_logging(None, level="warning", console=sys.stderr)


def _scheme(url: str) -> str:
    from drivers.urls import parse_driver_url

    return parse_driver_url(url).scheme


def _kinds(scheme: str) -> set[str]:
    from printctl.registry import list_drivers

    return {info.kind for info in list_drivers() if info.scheme == scheme}


def _unknown(url: str, scheme: str) -> DriverCliError:
    from printctl.registry import list_drivers

    infos = list_drivers()
    printers = ", ".join(sorted({i.scheme for i in infos if i.kind == "printer"}))
    encoders = ", ".join(sorted({i.scheme for i in infos if i.kind == "encoder"}))
    return DriverCliError(
        f"unknown driver {scheme!r} in {url!r} (printers: {printers}; encoders: {encoders};"
        " see `printctl driver list`)"
    )


def _require_kind(url: str, kind: str, command: str) -> None:
    scheme = _scheme(url)
    kinds = _kinds(scheme)
    if not kinds:
        raise _unknown(url, scheme)
    if kind not in kinds:
        other = "an encoder" if kind == "printer" else "a printer"
        use = "test-encode" if kind == "printer" else "status or test-print"
        raise DriverCliError(
            f"{scheme!r} is {other} driver; `printctl driver {command}` needs a {kind}"
            f" (use `printctl driver {use}`)"
        )


def _spy_table(calls: Iterable[SpyCall]) -> Table:
    table = Table("#", "call", "args", "ms", "outcome", title="driver calls (--spy)")
    for number, call in enumerate(calls, start=1):
        if call.ok:
            outcome = f"[green]ok[/] {escape(call.result)}".rstrip()
        else:
            facts = []
            if call.retryable:
                facts.append("retryable")
            if call.card_may_have_moved:
                facts.append("card may have moved")
            extra = f" ({', '.join(facts)})" if facts else ""
            outcome = f"[bold red]{escape(str(call.error))}[/]{extra}"
        table.add_row(
            str(number), call.name, escape(call.args), f"{call.seconds * 1000:.1f}", outcome
        )
    return table


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _or_unknown(value: object) -> str:
    return "unknown" if value is None else str(value)


# --------------------------------------------------------------------------- list


@driver_app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """List every driver: kind, URL scheme, origin, and what is missing when unavailable."""
    from printctl.registry import list_drivers

    infos = list_drivers()
    if json_out:
        _print_json([dataclasses.asdict(info) for info in infos])
        return
    table = Table("kind", "scheme", "origin", "available", "about")
    for info in infos:
        if info.available:
            available, about = "[green]yes[/]", escape(info.summary)
        else:
            available = "[bold red]no[/]"
            about = f"missing {escape(str(info.missing))}"
            if info.install_hint:
                about += f"; install with: {escape(info.install_hint)}"
        table.add_row(info.kind, info.scheme, escape(info.origin), available, about)
    out.print(table)


# --------------------------------------------------------------------------- check


@driver_app.command("check")
def check_cmd(
    url: UrlArg,
    encoder: Annotated[
        bool,
        typer.Option(
            "--encoder",
            help="Run the encoder checks (the default for a scheme that is only an encoder).",
        ),
    ] = False,
    spy_calls: SpyOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the driver conformance checks against URL; exits 1 if any check fails.

    The printer checks move at most one blank each (and drain a hopper only when it holds
    ten cards or fewer, i.e. a simulator); the encoder checks need a card on the reader.
    """
    from drivers.conformance import ENCODER_CHECKS, PRINTER_CHECKS, CheckResult, run_checks

    _quiet_logs()
    session = _Session(spy=spy_calls)
    results: list[CheckResult]
    with _one_line_errors(session):
        scheme = _scheme(url)
        kinds = _kinds(scheme)
        if not kinds:
            raise _unknown(url, scheme)
        kind = "encoder" if encoder or kinds == {"encoder"} else "printer"
        # Construct once up front, unspied and unopened: a bad URL is one configuration
        # error, not a table of identical failed rows. run_checks closes its own drivers.
        if kind == "encoder":
            _Session().encoder(url, track=False)
            results = run_checks(lambda: session.encoder(url, track=False), ENCODER_CHECKS)
            summaries = {c.name: c.summary for c in ENCODER_CHECKS}
        else:
            _Session().printer(url, track=False)
            results = run_checks(lambda: session.printer(url, track=False), PRINTER_CHECKS)
            summaries = {c.name: c.summary for c in PRINTER_CHECKS}
    counts = {o: sum(1 for r in results if r.outcome == o) for o in ("pass", "fail", "skip")}
    failed = counts["fail"] > 0
    if json_out:
        _print_json(
            {
                "url": url,
                "kind": kind,
                "passed": not failed,
                "counts": counts,
                "results": [dataclasses.asdict(r) for r in results],
                **session.calls_json(),
            }
        )
    else:
        style = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[yellow]skip[/]"}
        table = Table(
            "check", "what it pins", "result", "detail", title=f"{kind} checks: {escape(url)}"
        )
        for r in results:
            table.add_row(r.check, summaries.get(r.check, ""), style[r.outcome], escape(r.detail))
        out.print(table)
        session.show_calls(out)
        verdict = "[bold red]FAILED[/]" if failed else "[green]passed[/]"
        out.print(
            f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        )
    if failed:
        raise typer.Exit(EXIT_FAILED)


# --------------------------------------------------------------------------- status


@driver_app.command("status")
def status_cmd(url: UrlArg, spy_calls: SpyOpt = False, json_out: JsonOpt = False) -> None:
    """Open the printer and show its capabilities and status (nothing moves)."""
    _quiet_logs()
    session = _Session(spy=spy_calls)
    with _one_line_errors(session):
        _require_kind(url, "printer", "status")
        printer = session.printer(url)
        printer.open()
        caps = printer.capabilities()
        status = printer.status()
        session.close()
    if json_out:
        _print_json(
            {
                "url": url,
                "capabilities": dataclasses.asdict(caps),
                "status": dataclasses.asdict(status),
                **session.calls_json(),
            }
        )
        return
    station = (
        "none"
        if caps.encoder_station is None
        else f"{caps.encoder_station.value} (encodes"
        f" {'before' if caps.encode_before_print else 'after'} printing)"
    )
    rows: list[tuple[str, str]] = [
        ("model", caps.model),
        ("serial", caps.serial or "unknown"),
        ("colour", _yes_no(caps.colour)),
        ("duplex", _yes_no(caps.duplex)),
        ("encoder station", station),
        ("panel", f"{caps.panel_size[0]}×{caps.panel_size[1]} px at {caps.dpi} dpi"),
        ("state", status.state.value),
        ("conditions", ", ".join(status.conditions) or "none"),
        ("cards in hopper", _or_unknown(status.cards_in_hopper)),
        ("ribbon panels left", _or_unknown(status.ribbon_panels_left)),
        ("cards inserted (lifetime)", _or_unknown(status.cards_inserted)),
        ("panels printed (lifetime)", _or_unknown(status.panels_printed)),
        ("card position", status.card_position.value),
    ]
    rows.extend((f"  {key}", value) for key, value in sorted(status.detail.items()))
    table = Table(show_header=False, box=None, title=f"printer {escape(url)}")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, escape(value))
    out.print(table)
    session.show_calls(out)


# --------------------------------------------------------------------------- test-print


def _counters(status: PrinterStatus) -> dict[str, int | None]:
    return {
        "cards_in_hopper": status.cards_in_hopper,
        "cards_inserted": status.cards_inserted,
        "panels_printed": status.panels_printed,
        "ribbon_panels_left": status.ribbon_panels_left,
    }


def _confirm_blank(url: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise DriverCliError(
            f"test-print uses one blank card from {url}; pass --yes to confirm"
            " (no terminal to ask on)"
        )
    if not typer.confirm(f"Print the test card on one blank from {url}?", default=False):
        err.print("Nothing printed.")
        raise typer.Exit(EXIT_FAILED)


def _clear_after_failure(printer: Printer, exc: HardwareError) -> None:
    """After a failed test print, try to empty the card path; note where the blank went."""
    from printctl.service_printers import clear_card_path

    exc.add_note(clear_card_path(printer))


@driver_app.command("test-print")
def test_print_cmd(
    url: UrlArg,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask: it is fine to use one blank.")
    ] = False,
    spy_calls: SpyOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the built-in test card (feed → print → eject). USES ONE BLANK.

    Shows the printer's counters before and after. Asks for confirmation unless --yes.
    """
    from printctl.render import render_test_card
    from printctl.service_printers import fit_test_card

    _quiet_logs()
    session = _Session(spy=spy_calls)
    with _one_line_errors(session):
        _require_kind(url, "printer", "test-print")
        printer = session.printer(url)
        _confirm_blank(url, yes)
        printer.open()
        caps = printer.capabilities()
        # Render before feeding: a rendering problem must not cost a blank.
        image = dataclasses.replace(
            fit_test_card(render_test_card(back=caps.duplex), caps.colour), label="test-card"
        )
        before = printer.status()
        fed = False
        try:
            printer.feed()
            fed = True
            printer.print_card(image)
            printer.eject()
        except HardwareError as exc:
            if fed or exc.card_may_have_moved:
                _clear_after_failure(printer, exc)
            raise
        after = printer.status()
        session.close()
    rows = [
        (key, old, new, new - old if isinstance(old, int) and isinstance(new, int) else None)
        for (key, old), new in zip(
            _counters(before).items(), _counters(after).values(), strict=True
        )
    ]
    if json_out:
        _print_json(
            {
                "url": url,
                "label": image.label,
                "before": _counters(before),
                "after": _counters(after),
                "change": {key: change for key, _, _, change in rows},
                **session.calls_json(),
            }
        )
        return
    table = Table("counter", "before", "after", "change", title=f"test card printed: {escape(url)}")
    for key, old, new, change in rows:
        table.add_row(
            key.replace("_", " "),
            _or_unknown(old),
            _or_unknown(new),
            "" if change is None else f"{change:+d}",
        )
    out.print(table)
    session.show_calls(out)
    out.print("Check the card: colour patches, grey ramp, 1-dot grid, frame and corner marks.")


# --------------------------------------------------------------------------- test-encode


@driver_app.command("test-encode")
def test_encode_cmd(url: UrlArg, spy_calls: SpyOpt = False, json_out: JsonOpt = False) -> None:
    """Read the UID of the card on the reader, then run a harmless GET UID script (FFCA000000)."""
    from drivers.conformance import GET_UID

    _quiet_logs()
    session = _Session(spy=spy_calls)
    with _one_line_errors(session):
        _require_kind(url, "encoder", "test-encode")
        encoder = session.encoder(url)
        encoder.open()
        if not encoder.detect():
            raise NoCard(f"{url}: no card in the reader's field; put one there and retry")
        uid = encoder.read_uid()
        script_uid = encoder.run_script([GET_UID])
        session.close()
    same = script_uid == uid
    if json_out:
        _print_json(
            {
                "url": url,
                "uid": uid,
                "script": "GET UID (FFCA000000) expecting 9000",
                "script_uid": script_uid,
                "consistent": same,
                **session.calls_json(),
            }
        )
    else:
        out.print(f"UID {uid}")
        out.print(f"GET UID (FFCA000000) answered 9000 with UID {script_uid}")
        session.show_calls(out)
    if not same:
        _fail(f"run_script returned UID {script_uid} but read_uid gave {uid}", EXIT_FAILED)


# --------------------------------------------------------------------------- console


def _console_lines(commands: list[str] | None, interactive: bool) -> Iterator[str]:
    if commands:
        yield from commands
        return
    while True:
        if interactive:
            out.print("[bold]>[/] ", end="")
        line = sys.stdin.readline()
        if not line:  # EOF
            return
        yield line


@driver_app.command("console")
def console_cmd(
    url: UrlArg,
    command: Annotated[
        list[str] | None,
        typer.Option("--command", "-c", help="Send this command and exit (repeatable, in order)."),
    ] = None,
) -> None:
    """Send raw commands (e.g. Rtp, Rco;c) to a protocol driver and show the replies.

    Reads one command per line from stdin until EOF or `quit`, or sends the --command options
    in order. A failing command prints one error line and the console goes on; the exit code
    is then 1.
    """
    _quiet_logs()
    session = _Session()
    with _one_line_errors(session):
        scheme = _scheme(url)
        kinds = _kinds(scheme)
        if not kinds:
            raise _unknown(url, scheme)
        driver = session.printer(url) if "printer" in kinds else session.encoder(url)
        send: Callable[[str], object] | None = getattr(driver, "send_command", None)
        if send is None or not callable(send):
            raise DriverCliError(
                f"driver {scheme!r} ({type(driver).__name__}) has no raw console;"
                " only protocol drivers (evolis+usb, evolis+tcp, …) have one"
            )
        driver.open()
    failures = 0
    try:
        interactive = not command and sys.stdin.isatty()
        if interactive:
            out.print(f"Connected to {escape(url)}. One command per line; `quit` or Ctrl-D ends.")
        for raw in _console_lines(command, interactive):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            if text.lower() in ("quit", "exit"):
                break
            try:
                reply = send(text)
            except HardwareError as exc:
                # One bad command must not end a technician's session with the printer.
                failures += 1
                err.print(
                    "[bold red]error:[/] "
                    + escape(f"{text}: {_hardware_message(exc)} [{exc.code}]"),
                    soft_wrap=True,
                )
                continue
            out.print(escape(str(reply)), soft_wrap=True)
    finally:
        session.close()
    if failures:
        raise typer.Exit(EXIT_FAILED)


# --------------------------------------------------------------------------- udev-rules


def udev_rules(group: str = "printctl") -> str:
    """udev rules giving ``group`` access to the USB card printers and readers printctl knows."""
    lines = [
        f"# printctl: USB access to card printers and chip readers for the group {group!r}.",
        "# Install (as root):",
        "#   printctl driver udev-rules > /etc/udev/rules.d/60-printctl.rules",
        f"#   groupadd --system {group}; usermod -aG {group} <the printctl user>",
        "#   udevadm control --reload && udevadm trigger   (then replug the devices)",
        "#",
        "# Evolis printers: the kernel's usblp driver claims the printer interface. The",
        "# evolis+usb driver detaches it while open; if opening still fails with 'resource",
        "# busy', keep usblp off the printer for good:",
        "#   echo 'blacklist usblp' > /etc/modprobe.d/printctl-usblp.conf && modprobe -r usblp",
        "# or unbind one printer: echo -n '<bus-port>:1.0' > /sys/bus/usb/drivers/usblp/unbind",
        "# (or keep usblp and use evolis+file:///dev/usb/lp0, which needs the lp group).",
        "#",
        "# Serial printers (evolis+serial://): add the user to the 'dialout' group instead.",
        "",
        "# Card printers",
    ]
    for vid, name in PRINTER_VENDORS.items():
        lines.append(f"# {name}")
        lines.append(
            f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vid:04x}", MODE="0660", GROUP="{group}"'
        )
    lines += [
        "",
        "# Chip readers. printctl reaches them through pcscd, whose own rules (libccid's",
        "# 92_pcscd_ccid.rules) run later and decide; these lines let `printctl driver probe`",
        "# read their names when pcscd is not running.",
    ]
    for vid, name in READER_VENDORS.items():
        lines.append(f"# {name}")
        lines.append(
            f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vid:04x}", MODE="0660", GROUP="{group}"'
        )
    return "\n".join(lines) + "\n"


@driver_app.command("udev-rules")
def udev_rules_cmd(
    group: Annotated[
        str, typer.Option("--group", help="The group given access to the devices.")
    ] = "printctl",
) -> None:
    """Print udev rules for USB card printers and readers, and how to install them."""
    with _one_line_errors():
        if not _GROUP.match(group):
            raise DriverCliError(f"{group!r} is not a valid group name")
    sys.stdout.write(udev_rules(group))


# --------------------------------------------------------------------------- probe


def _section(library: str) -> dict[str, Any]:
    return {"library": library, "available": True, "error": None, "hint": None, "devices": []}


def _unavailable(section: dict[str, Any], error: str, hint: str | None) -> dict[str, Any]:
    section.update(available=False, error=error, hint=hint)
    return section


def _usb_string(dev: Any, attribute: str) -> tuple[str | None, str | None]:
    """A USB string descriptor, or why it could not be read (usually permissions)."""
    import usb.core
    import usb.util

    index = getattr(dev, attribute, 0)
    if not index:
        return None, None
    try:
        return str(usb.util.get_string(dev, index)), None
    except usb.core.USBError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return None, "permission denied"
        return None, f"USB error: {exc}"
    except ValueError:
        # pyusb's "The device has no langid": on Linux almost always a permission problem.
        return None, "permission denied"


def _interface_classes(dev: Any) -> set[int]:
    classes = {int(getattr(dev, "bDeviceClass", 0))}
    with contextlib.suppress(Exception):  # descriptors unreadable: judge by vendor alone
        for config in dev:
            for interface in config:
                classes.add(int(interface.bInterfaceClass))
    return classes


def probe_usb(all_devices: bool = False) -> dict[str, Any]:
    """USB devices that look like card printers or readers (every device with ``all``)."""
    section = _section("pyusb")
    try:
        import usb.core
    except ImportError:
        return _unavailable(section, "pyusb is not installed", "pip install 'printctl[usb]'")
    try:
        devices = list(usb.core.find(find_all=True))
    except usb.core.NoBackendError:
        return _unavailable(
            section, "no libusb backend found", "apt-get install libusb-1.0-0 (Debian/Ubuntu)"
        )
    except usb.core.USBError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return _unavailable(section, f"permission denied: {exc}", _UDEV_HINT)
        return _unavailable(section, f"USB error: {exc}", None)
    denied = False
    for dev in devices:
        vid, pid = int(dev.idVendor), int(dev.idProduct)
        classes = _interface_classes(dev)
        if vid in PRINTER_VENDORS:
            looks, maker = "card printer", PRINTER_VENDORS[vid]
        elif vid in READER_VENDORS:
            looks, maker = "chip reader", READER_VENDORS[vid]
        elif _USB_SMART_CARD_CLASS in classes:
            looks, maker = "chip reader", None
        elif _USB_PRINTER_CLASS in classes:
            looks, maker = "printer", None
        else:
            looks, maker = None, None
        if looks is None and not all_devices:
            continue
        entry: dict[str, Any] = {
            "id": f"{vid:04x}:{pid:04x}",
            "bus": getattr(dev, "bus", None),
            "address": getattr(dev, "address", None),
            "looks_like": looks,
            "known_vendor": maker,
        }
        problems = []
        for key, attribute in (
            ("manufacturer", "iManufacturer"),
            ("product", "iProduct"),
            ("serial", "iSerialNumber"),
        ):
            value, problem = _usb_string(dev, attribute)
            entry[key] = value
            if problem and problem not in problems:
                problems.append(problem)
        entry["problem"] = "; ".join(problems) or None
        denied = denied or "permission denied" in problems
        if vid == 0x0F49:
            serial = entry["serial"]
            entry["url"] = f"evolis+usb://?serial={quote(serial)}" if serial else None
        section["devices"].append(entry)
    if denied:
        section["hint"] = f"some devices could not be read: permission denied ({_UDEV_HINT})"
    return section


def probe_pcsc() -> dict[str, Any]:
    """PC/SC readers pcscd sees, with the ``pcsc://`` URL that picks each one."""
    section = _section("pyscard")
    try:
        from smartcard.System import readers
    except ImportError:
        return _unavailable(section, "pyscard is not installed", "pip install 'printctl[pcsc]'")
    try:
        found = list(readers())
    except Exception as exc:  # pyscard raises its own classes, and bare ones, per platform
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _unavailable(
            section,
            f"pcscd is not reachable: {text}",
            "apt-get install pcscd && systemctl start pcscd.socket",
        )
    for reader in found:
        name = str(reader)
        maker = next(
            (
                label
                for needle, label in (
                    ("omnikey", "HID Omnikey"),
                    ("hid global", "HID Global"),
                    ("acs", "ACS"),
                    ("identiv", "Identiv (SCM)"),
                    ("scm", "Identiv (SCM)"),
                    ("gemalto", "Gemalto"),
                    ("reiner", "Reiner SCT"),
                    ("castles", "Castles"),
                )
                if needle in name.lower()
            ),
            None,
        )
        section["devices"].append(
            {"name": name, "known_vendor": maker, "url": f"pcsc://?reader={quote(name, safe='')}"}
        )
    return section


def probe_serial() -> dict[str, Any]:
    """Serial ports (USB adapters included), marking those this user cannot open."""
    section = _section("pyserial")
    try:
        from serial.tools import list_ports
    except ImportError:
        return _unavailable(section, "pyserial is not installed", "pip install 'printctl[serial]'")
    denied = False
    for port in sorted(list_ports.comports(), key=lambda p: str(p.device)):
        vid = getattr(port, "vid", None)
        access = os.access(port.device, os.R_OK | os.W_OK)
        denied = denied or not access
        section["devices"].append(
            {
                "device": port.device,
                "description": port.description,
                "id": f"{vid:04x}:{port.pid:04x}" if vid is not None else None,
                "manufacturer": getattr(port, "manufacturer", None),
                "serial": getattr(port, "serial_number", None),
                "known_vendor": PRINTER_VENDORS.get(vid) if vid is not None else None,
                "access": access,
                "url": f"evolis+serial://{port.device}",
            }
        )
    if denied:
        section["hint"] = "no read/write access to some ports: add the user to the 'dialout' group"
    return section


@driver_app.command("probe")
def probe_cmd(
    all_devices: Annotated[
        bool, typer.Option("--all", help="List every USB device, not only likely ones.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Look for card printers and readers: USB devices, PC/SC readers and serial ports."""
    sections = {"usb": probe_usb(all_devices), "pcsc": probe_pcsc(), "serial": probe_serial()}
    if json_out:
        _print_json(sections)
        return
    columns = {
        "usb": ("id", "looks_like", "known_vendor", "manufacturer", "product", "serial", "url"),
        "pcsc": ("name", "known_vendor", "url"),
        "serial": ("device", "description", "id", "known_vendor", "access", "url"),
    }
    titles = {"usb": "USB devices", "pcsc": "PC/SC readers", "serial": "serial ports"}
    for key, section in sections.items():
        out.print(f"[bold]{titles[key]}[/] ({section['library']})")
        if not section["available"]:
            hint = f"; install: {section['hint']}" if section["hint"] else ""
            out.print(f"  not available: {escape(section['error'])}{escape(hint)}")
            continue
        if not section["devices"]:
            out.print("  none found")
        else:
            table = Table(*(c.replace("_", " ") for c in columns[key]))
            for device in section["devices"]:
                table.add_row(*(escape(_or_blank(device.get(c))) for c in columns[key]))
            out.print(table)
            problems = [d for d in section["devices"] if d.get("problem")]
            for device in problems:
                out.print(f"  {device.get('id')}: {escape(device['problem'])}")
        if section["hint"]:
            out.print(f"  [yellow]{escape(section['hint'])}[/]")


def _or_blank(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _yes_no(value)
    return str(value)


# --------------------------------------------------------------------------- simulate


@simulate_app.command("evolis")
def simulate_evolis(
    tcp: Annotated[
        int | None, typer.Option("--tcp", help="Serve on this TCP port (0: any free one).")
    ] = None,
    pty: Annotated[
        bool, typer.Option("--pty", help="Serve on a pseudo-terminal (for evolis+serial).")
    ] = False,
    options: Annotated[
        str,
        typer.Option(
            "--options", help="Simulator options as a query string, e.g. 'cards=5&fault=…'."
        ),
    ] = "",
) -> None:
    """Run the Evolis device simulator until Ctrl-C; point evolis+tcp:// or evolis+serial:// at it."""
    with _one_line_errors():
        if tcp is None and not pty:
            raise DriverCliError("say where to serve: --tcp PORT and/or --pty")
        if tcp is not None and not 0 <= tcp <= 65535:
            raise DriverCliError(f"--tcp {tcp}: not a TCP port (0–65535)")
        try:
            from drivers.evolis.simulator import run_simulator
        except ImportError as exc:
            raise DriverCliError(
                f"the Evolis simulator is not available in this installation ({exc})"
            ) from None
        try:
            run_simulator(tcp_port=tcp, pty=pty, options=options)
        except OSError as exc:
            # Port in use, no pty support: the technician's environment, not a device.
            raise DriverCliError(f"cannot start the simulator: {exc.strerror or exc}") from None
