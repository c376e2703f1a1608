"""Configuration: file, environment, defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from printctl.config import STARTER_CONFIG, ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "printctl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no variables, the embedded SQLite default is used in the cwd."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.regency_code == "14.09"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/printctl.db"


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    """Values come from the file, and relative paths resolve against the file's folder."""
    path = write(
        tmp_path,
        'office_name = "Disdukcapil X"\ndata_key_file = "keys/k"\nmax_attempts = 5\n'
        '[[printers]]\nname = "p1"\nurl = "sim://"\nencoder = "sim://"\n',
    )
    settings = load_settings(path, environ={})
    assert settings.office_name == "Disdukcapil X"
    assert settings.max_attempts == 5
    assert settings.resolve(settings.data_key_file) == tmp_path / "keys" / "k"
    assert settings.printer("p1").encoder == "sim://"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    """Every key can be overridden by PRINTCTL_<KEY>, including the printers."""
    path = write(tmp_path, 'regency_code = "14.09"\n')
    settings = load_settings(
        path,
        environ={
            "PRINTCTL_REGENCY_CODE": "14.01",
            "PRINTCTL_MAX_ATTEMPTS": "2",
            "PRINTCTL_PRINTERS": "a=sim://?cards=5|sim://;b=mock://",
        },
    )
    assert settings.regency_code == "14.01"
    assert settings.max_attempts == 2
    assert [(p.name, p.url, p.encoder) for p in settings.printers] == [
        ("a", "sim://?cards=5", "sim://"),
        ("b", "mock://", None),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown setting 'colour'"),
        ("max_attempts = 'many'\n", "max_attempts"),
        ("office_name = \n", "not valid TOML"),
        ('[[printers]]\nname = "a"\n', "needs at least 'name' and 'url'"),
        ('[[printers]]\nname="a"\nurl="x"\n[[printers]]\nname="a"\nurl="y"\n', "unique"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    """A bad configuration file is a ConfigError that names the problem."""
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """Naming a configuration file that does not exist is an error, not silently ignored."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_starter_config_loads(tmp_path: Path) -> None:
    """The file `printctl init` writes is valid and names a simulated printer."""
    path = write(
        tmp_path, STARTER_CONFIG.format(office_name="O", regency_code="14.09", station="s")
    )
    settings = load_settings(path, environ={})
    assert settings.printers[0].url.startswith("sim://")
