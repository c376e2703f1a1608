"""One :class:`Settings` object, read from ``printctl.toml`` and ``PRINTCTL_*`` variables.

Where the file comes from, first match wins: the ``--config`` option, ``PRINTCTL_CONFIG``,
``printctl.toml`` in the working directory. No file at all is fine: every key has a default
that suits a single station on the embedded SQLite database. Every top-level key can be set
in the environment as ``PRINTCTL_<KEY>`` (upper case) and the environment wins over the file.
Relative paths in the file are relative to the file's folder, so a workspace can be moved.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from printctl.queue.policy import FaultPolicy, PolicyError

CONFIG_FILE_NAME = "printctl.toml"


class ConfigError(Exception):
    """The configuration file or an environment variable is invalid."""


@dataclass(frozen=True)
class PrinterConfig:
    """One printer of this station: a name operators use, its driver URL and its encoder."""

    name: str
    url: str
    encoder: str | None = None
    #: Duty cycle: after this many cards in a row the printer rests (0 = never).
    rest_after: int = 0
    #: How long it rests, in minutes (printers overheat and melt PET cards).
    rest_minutes: float = 0.0
    #: Fault-policy overrides, condition code → action (see :mod:`printctl.queue.policy`).
    policy: tuple[tuple[str, str], ...] = ()
    #: The speed the night plan assumes until the printer's own history shows its real pace
    #: (cards per hour, chip encoding included; 0: unknown, the plan assumes 60).
    rated_cards_per_hour: float = 0.0


@dataclass(frozen=True)
class Settings:
    """Everything printctl reads from its configuration."""

    office_name: str = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Kuantan Singingi"
    regency_code: str = "14.09"
    station: str = "station-1"
    database_url: str = "sqlite:///printctl.db"
    data_key_file: Path = Path("data.key")
    log_file: Path | None = Path("printctl.log.jsonl")
    log_level: str = "info"
    printers: tuple[PrinterConfig, ...] = ()
    #: Attempts per job (each one may spoil a blank) before the job fails for a person to look.
    max_attempts: int = 3
    #: Seconds a card may wait parked at the encoder before it is rejected as encode-failed.
    encode_deadline_s: float = 30.0
    #: Fault policy waits (see docs/configuration.md): the first ``retry-later`` re-check,
    #: doubling up to the cap; how long an intact card may wait in the printer for a condition
    #: to clear; how long a printer in a batch run waits before it leaves the run stopped.
    retry_backoff_s: float = 2.0
    retry_backoff_max_s: float = 60.0
    card_wait_s: float = 600.0
    wait_max_s: float = 1800.0
    #: Immediate retries of a step under ``retry-now`` before it escalates.
    retry_now_limit: int = 2
    #: Clears of a ``retry-later`` condition without a good card before the printer stops.
    retry_later_limit: int = 5
    #: Bundles whose uncompressed content exceeds this are refused (zip-bomb guard).
    bundle_max_bytes: int = 4 * 1024**3
    bundle_max_ratio: float = 200.0
    #: A station's lease: one that has not renewed its heartbeat for this many seconds is
    #: presumed dead, and another station reconciles its jobs (once its lock proves it dead).
    lease_s: float = 30.0
    #: How often an idle station run looks for new work, in seconds.
    poll_s: float = 2.0
    #: The office's time zone: business days (the daily stock close) follow its calendar.
    timezone: str = "Asia/Jakarta"
    #: Who may approve stock adjustments, destructions and count resolutions (comma-separated
    #: or a TOML list). Empty: any second person, never the one who proposed.
    supervisors: str = ""
    #: Low-stock warnings: blanks on hand in the office, and in one printer's hopper.
    low_stock: int = 100
    low_stock_hopper: int = 10
    #: The center's pull API (spec §4): its base URL (empty: offline office, flash drives
    #: only) and the bearer token the office was issued. The token is a secret: prefer the
    #: ``PRINTCTL_CENTER_TOKEN`` variable to writing it in the file.
    center_url: str = ""
    center_token: str = ""
    #: Seconds before a request to the center gives up, and how many tries each gets.
    center_timeout_s: float = 30.0
    center_attempts: int = 6
    #: How often ``printctl serve`` pulls bundles and pushes events, in seconds.
    pull_every_s: float = 300.0
    push_every_s: float = 60.0
    #: Where downloads wait (resumable ``.part`` files) and event bundles are made.
    spool_dir: Path = Path("spool")
    #: This station's Ed25519 key that signs its event bundles (created by ``printctl init``
    #: or ``printctl keys station``); the center trusts its public half under the station name.
    station_key_file: Path = Path("station.key")
    #: Printed cards not handed over within this many days are listed as overdue.
    handover_overdue_days: int = 30
    #: Days after a handover (or a record's supersession or refusal) before its personal
    #: data (fields, photo, signature, chip script) is erased.
    retention_days: int = 90
    #: Where ``printctl serve`` answers the console and the API (host:port). The default
    #: listens on this machine only; ``0.0.0.0:8080`` opens it to the office LAN.
    listen: str = "127.0.0.1:8080"
    #: A console login ends after this many minutes without a request, and after
    #: ``session_max_hours`` in any case.
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    #: Mark the session cookie Secure (set when the console is served over HTTPS).
    secure_cookies: bool = False
    #: The console's default language: ``id`` (Bahasa Indonesia) or ``en``.
    console_language: str = "id"
    #: Night runs that ``printctl serve`` starts by itself: cron-like windows in office
    #: time, ``DAYS HH:MM-HH:MM`` (e.g. ``mon-fri 22:00-05:30``; the days are those the window
    #: starts on; an end before the start is the next morning). See :mod:`printctl.night`.
    overnight: tuple[str, ...] = ()
    #: Blanks on hand (vault and hoppers) that a night run must leave for the day shift.
    night_reserve: int = 0
    #: Where morning reports (PDF) are written.
    reports_dir: Path = Path("reports")
    #: After each night: run this command (the report's JSON on its standard input, the PDF's
    #: path in ``PRINTCTL_REPORT_PDF``) and/or POST the report's JSON to this URL.
    night_notify_command: str = ""
    night_notify_url: str = ""
    #: Training and tests only: a clock that runs faster than the wall clock
    #: (``START xSCALE [@EPOCH]``, see :mod:`printctl.timebase`); sim:// printers only.
    simulated_clock: str = ""
    base_dir: Path = field(default_factory=Path.cwd)

    def resolve(self, path: Path) -> Path:
        """A path from the configuration, made absolute against the configuration's folder."""
        return path if path.is_absolute() else self.base_dir / path

    @property
    def resolved_database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        prefix = "sqlite:///"
        url = self.database_url
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(Path(url[len(prefix) :])))
        return url

    def printer(self, name: str) -> PrinterConfig:
        """The printer called ``name``, or a :class:`ConfigError` naming the known ones."""
        for printer in self.printers:
            if printer.name == name:
                return printer
        known = ", ".join(p.name for p in self.printers) or "none configured"
        raise ConfigError(f"no printer named {name!r} (known: {known})")

    def supervisor_names(self) -> tuple[str, ...]:
        """The configured supervisors (empty: any second person may approve)."""
        return tuple(n.strip() for n in self.supervisors.split(",") if n.strip())

    def fault_policy(self, printer: PrinterConfig) -> FaultPolicy:
        """The fault policy of ``printer``: the defaults, its overrides, these waits."""
        return FaultPolicy.configured(
            dict(printer.policy),
            retry_now_limit=self.retry_now_limit,
            backoff_initial_s=self.retry_backoff_s,
            backoff_max_s=self.retry_backoff_max_s,
            card_wait_s=self.card_wait_s,
            wait_max_s=self.wait_max_s,
            retry_later_limit=self.retry_later_limit,
        )


_SCALAR_FIELDS = {f.name: f for f in fields(Settings) if f.name not in {"printers", "base_dir"}}


def _coerce(key: str, value: Any) -> Any:
    """Turn a TOML or environment value into the type the field wants."""
    current = getattr(Settings(), key)
    if key == "supervisors" and isinstance(value, list):
        return ",".join(str(v).strip() for v in value)
    if key == "overnight":
        if isinstance(value, str):  # the environment: windows separated by ";"
            value = [part for part in value.split(";") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError('overnight must be a list of windows, e.g. ["mon-fri 22:00-05:30"]')
        return tuple(v.strip() for v in value)
    try:
        if key in {"data_key_file", "log_file", "spool_dir", "station_key_file", "reports_dir"}:
            if value in ("", None, "none", False):
                if key == "log_file":
                    return None
                raise ConfigError(f"{key} must name a file")
            return Path(str(value))
        if isinstance(current, bool):
            return str(value).lower() in {"1", "true", "yes", "on"}
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        return str(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {value!r} is not a valid value ({exc})") from None


def _parse_printers(value: Any) -> tuple[PrinterConfig, ...]:
    """Printers from a TOML array of tables, JSON, or ``name=url[|encoder];…`` in the env."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"PRINTCTL_PRINTERS is not valid JSON: {exc}") from None
        else:
            items = []
            for part in filter(None, (p.strip() for p in text.split(";"))):
                name, sep, rest = part.partition("=")
                if not sep:
                    raise ConfigError(f"printer {part!r}: expected name=url")
                url, _, encoder = rest.partition("|")
                items.append({"name": name.strip(), "url": url.strip(), "encoder": encoder or None})
            value = items
    if not isinstance(value, list):
        raise ConfigError("printers must be a list of {name, url, encoder} tables")
    printers = []
    for item in value:
        if not isinstance(item, Mapping) or "name" not in item or "url" not in item:
            raise ConfigError(f"printer entry {item!r} needs at least 'name' and 'url'")
        unknown = set(item) - {
            "name",
            "url",
            "encoder",
            "rest_after",
            "rest_minutes",
            "policy",
            "rated_cards_per_hour",
        }
        if unknown:
            raise ConfigError(f"printer {item['name']!r}: unknown keys {sorted(unknown)}")
        try:
            rest_after = int(item.get("rest_after", 0))
            rest_minutes = float(item.get("rest_minutes", 0.0))
            rated = float(item.get("rated_cards_per_hour", 0.0))
        except (TypeError, ValueError):
            raise ConfigError(
                f"printer {item['name']!r}: rest_after, rest_minutes and rated_cards_per_hour "
                "must be numbers"
            ) from None
        if rest_after < 0 or rest_minutes < 0 or rated < 0:
            raise ConfigError(
                f"printer {item['name']!r}: rest_after, rest_minutes and rated_cards_per_hour "
                "must be >= 0"
            )
        policy = item.get("policy") or {}
        if not isinstance(policy, Mapping):
            raise ConfigError(f"printer {item['name']!r}: policy must be a table of code = action")
        try:
            FaultPolicy.configured({str(k): str(v) for k, v in policy.items()})
        except PolicyError as exc:
            raise ConfigError(f"printer {item['name']!r}: policy: {exc}") from None
        printers.append(
            PrinterConfig(
                str(item["name"]),
                str(item["url"]),
                item.get("encoder") or None,
                rest_after=rest_after,
                rest_minutes=rest_minutes,
                policy=tuple((str(k), str(v)) for k, v in policy.items()),
                rated_cards_per_hour=rated,
            )
        )
    names = [p.name for p in printers]
    if len(set(names)) != len(names):
        raise ConfigError(f"printer names must be unique, got {names}")
    return tuple(printers)


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The configuration file to read, or None when there is none."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"configuration file {explicit} does not exist")
        return explicit
    env = os.environ.get("PRINTCTL_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"PRINTCTL_CONFIG names {path}, which does not exist")
        return path
    local = Path.cwd() / CONFIG_FILE_NAME
    return local if local.is_file() else None


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings: defaults, then the file, then ``PRINTCTL_*`` variables."""
    env = os.environ if environ is None else environ
    path = find_config_file(config_file)
    values: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        base_dir = path.resolve().parent
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, value in data.items():
            if key == "printers":
                values["printers"] = _parse_printers(value)
            elif key in _SCALAR_FIELDS:
                values[key] = _coerce(key, value)
            else:
                raise ConfigError(f"{path}: unknown setting {key!r}")
    for key in _SCALAR_FIELDS:
        env_value = env.get(f"PRINTCTL_{key.upper()}")
        if env_value is not None:
            values[key] = _coerce(key, env_value)
    if env.get("PRINTCTL_PRINTERS"):
        values["printers"] = _parse_printers(env["PRINTCTL_PRINTERS"])
    return validate(replace(Settings(base_dir=base_dir), **values))


def validate(settings: Settings) -> Settings:
    """Check the values that have limits; a :class:`ConfigError` names the key."""
    if not settings.station.strip():
        raise ConfigError("station must name this station")
    if settings.lease_s <= 0:
        raise ConfigError(f"lease_s must be positive, got {settings.lease_s:g}")
    if settings.poll_s <= 0:
        raise ConfigError(f"poll_s must be positive, got {settings.poll_s:g}")
    if settings.poll_s > settings.lease_s:
        raise ConfigError(
            f"poll_s ({settings.poll_s:g}) must not exceed lease_s ({settings.lease_s:g})"
        )
    if settings.low_stock < 0 or settings.low_stock_hopper < 0:
        raise ConfigError("low_stock and low_stock_hopper must be 0 (no warning) or more")
    if settings.center_url and not settings.center_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"center_url must be an http:// or https:// URL, got {settings.center_url!r}"
        )
    if settings.center_timeout_s <= 0 or settings.center_attempts < 1:
        raise ConfigError("center_timeout_s must be positive and center_attempts at least 1")
    if settings.pull_every_s <= 0 or settings.push_every_s <= 0:
        raise ConfigError("pull_every_s and push_every_s must be positive")
    if settings.handover_overdue_days < 1 or settings.retention_days < 1:
        raise ConfigError("handover_overdue_days and retention_days must be at least 1")
    host, _, port = settings.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen must be HOST:PORT, e.g. 127.0.0.1:8080, got {settings.listen!r}")
    if settings.session_idle_minutes < 1 or settings.session_max_hours < 1:
        raise ConfigError("session_idle_minutes and session_max_hours must be at least 1")
    if settings.console_language not in ("id", "en"):
        raise ConfigError(f"console_language must be id or en, got {settings.console_language!r}")
    if settings.night_reserve < 0:
        raise ConfigError(f"night_reserve must be 0 or more, got {settings.night_reserve}")
    if settings.night_notify_url and not settings.night_notify_url.startswith(
        ("http://", "https://")
    ):
        raise ConfigError(
            f"night_notify_url must be an http:// or https:// URL, got {settings.night_notify_url!r}"
        )
    from printctl.night.windows import WindowError, parse_window

    for text in settings.overnight:
        try:
            parse_window(text)
        except WindowError as exc:
            raise ConfigError(f"overnight: {exc}") from None
    if settings.simulated_clock:
        from printctl.timebase import TimebaseError, parse_simulated_clock

        try:
            parse_simulated_clock(settings.simulated_clock)
        except TimebaseError as exc:
            raise ConfigError(str(exc)) from None
        real = [p.name for p in settings.printers if not p.url.startswith("sim:")]
        if real:
            raise ConfigError(
                "simulated_clock drives simulated printers only; these are not sim://: "
                + ", ".join(real)
            )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone: unknown time zone {settings.timezone!r} "
            "(Asia/Jakarta, Asia/Makassar or Asia/Jayapura)"
        ) from None
    try:  # the fault-policy waits, and each printer's overrides with them
        for printer in settings.printers or (PrinterConfig("", ""),):
            settings.fault_policy(printer)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    return settings


STARTER_CONFIG = """\
# printctl configuration. Every key can also be set as PRINTCTL_<KEY> in the environment,
# which wins over this file. Relative paths are relative to this file's folder.

# The office's name, printed on reports.
office_name = "{office_name}"

# The office's regency code: bundles for any other regency are rejected.
regency_code = "{regency_code}"

# This station's name (one machine driving printers); appears in events and the audit log.
station = "{station}"

# Where the records, jobs and blank ledger live. SQLite is the embedded default;
# several stations share one PostgreSQL database, e.g.
#   database_url = "postgresql+psycopg://printctl@db.local/printctl"
database_url = "sqlite:///printctl.db"

# The key that encrypts personal data at rest (created by `printctl init`, mode 0600).
# Keep a copy in the office safe: without it the stored records cannot be read.
data_key_file = "data.key"

# Structured log (JSON lines). NIKs are masked to their last 4 digits.
log_file = "printctl.log.jsonl"
log_level = "info"

# Attempts per job before it stops for a person to look (each attempt may use a blank).
max_attempts = 3

# Several stations on one PostgreSQL database (`printctl run --station NAME`): a station that
# has not renewed its heartbeat for lease_s seconds is presumed dead and another station
# reconciles its jobs; an idle station looks for new work every poll_s seconds.
lease_s = 30
poll_s = 2

# Blank stock. Business days (the daily close) follow the office's time zone: Asia/Jakarta
# (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).
timezone = "Asia/Jakarta"
# Who may approve stock adjustments, destructions and count resolutions; empty means any
# second person (never the one who proposed).
supervisors = []
# Warn when the office's blanks on hand, or one printer's hopper, fall this low.
low_stock = 100
low_stock_hopper = 10

# The center (spec prr-bundle-v1 §4). Empty center_url: an offline office that moves
# bundles and events on flash drives only. Put the token in PRINTCTL_CENTER_TOKEN rather
# than here. `printctl serve` pulls and pushes every pull_every_s / push_every_s seconds.
center_url = ""
center_timeout_s = 30
center_attempts = 6
pull_every_s = 300
push_every_s = 60
# Downloads in progress (resumable) and event bundles being made.
spool_dir = "spool"
# Signs this station's event bundles; give its public half to the center
# (`printctl keys station --out FILE`).
station_key_file = "station.key"

# Cards printed but not handed over within this many days are listed as overdue; personal
# data of handed-over (or superseded/refused) records is erased retention_days later.
handover_overdue_days = 30
retention_days = 90

# The operators' console and API (`printctl serve`): where it listens (0.0.0.0:8080 for the
# office LAN), how long a login lasts, and the console's default language (id or en).
listen = "127.0.0.1:8080"
session_idle_minutes = 120
session_max_hours = 12
secure_cookies = false
console_language = "id"

# Night runs `printctl serve` starts by itself (office time; the days a window starts on):
#   overnight = ["mon-fri 22:00-05:30"]
# A night leaves night_reserve blanks for the day shift, writes its morning report (PDF) into
# reports_dir, and may send it on: a command (JSON on stdin) and/or a webhook URL.
overnight = []
night_reserve = 0
reports_dir = "reports"
night_notify_command = ""
night_notify_url = ""

# The printers this station drives: a name, the driver URL and the chip encoder's URL.
# `printctl driver list` shows the drivers. The simulator:
#   sim://?cards=100&ribbon=200&card_ms=16000&timescale=1
[[printers]]
name = "sim-1"
url = "sim://?cards=100&ribbon=200"
encoder = "sim://"
# Duty cycle: rest 20 minutes after 100 cards in a row, so the print head cools.
rest_after = 100
rest_minutes = 20
# What the night plan assumes until the printer's own history shows its real pace.
rated_cards_per_hour = 60
# Fault policy overrides: condition = action (retry-now, retry-later, hold-job, stop-printer,
# abort-job, needs-inspection). `docs/configuration.md` lists the conditions and defaults.
# [printers.policy]
# media-jam = "stop-printer"
"""
