"""Secrets from the environment or from files (``STOPPOC_<NAME>_FILE``), and URLs that never show them."""

import subprocess
import sys

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from stoppoc.shared.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for variable in ("STOPPOC_AMQP_URL", "STOPPOC_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)


def test_a_password_file_goes_into_the_url_and_a_printed_setting_shows_none(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("s3cret/:@pw\n")  # as a Kubernetes secret is mounted: the final newline is not part of it
    monkeypatch.setenv("STOPPOC_DATABASE_URL", "postgresql://payment@db:5432/stoppoc")
    monkeypatch.setenv("STOPPOC_DATABASE_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("STOPPOC_AMQP_URL", "amqp://payment:old@broker:5672/")
    monkeypatch.setenv("STOPPOC_AMQP_PASSWORD", "new")

    settings = Settings()

    assert settings.database_url == "postgresql://payment:s3cret%2F%3A%40pw@db:5432/stoppoc"
    assert settings.amqp_url == "amqp://payment:new@broker:5672/"
    printed = repr(settings) + str(settings)
    assert "s3cret" not in printed and ":new@" not in printed
    assert "amqp://payment:***@broker:5672/" in printed


def test_any_setting_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "url").write_text("amqp://u:p@elsewhere:5672/")
    (tmp_path / "cycles").write_text('{"1": 0, "12": 10}')
    monkeypatch.setenv("STOPPOC_AMQP_URL_FILE", str(tmp_path / "url"))
    monkeypatch.setenv("STOPPOC_USAGE_CYCLES_FILE", str(tmp_path / "cycles"))
    settings = Settings()
    assert settings.amqp_url == "amqp://u:p@elsewhere:5672/"
    assert settings.usage_cycles == {1: 0, 12: 10}


def test_a_setting_given_both_ways_or_an_unreadable_file_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("STOPPOC_DATABASE_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"STOPPOC_DATABASE_PASSWORD_FILE: cannot read .*missing"):
        Settings()
    (tmp_path / "missing").write_text("pw")
    monkeypatch.setenv("STOPPOC_DATABASE_PASSWORD", "other")
    with pytest.raises(SettingsError, match="STOPPOC_DATABASE_PASSWORD and STOPPOC_DATABASE_PASSWORD_FILE"):
        Settings()


def test_a_password_for_a_url_without_a_user_is_refused(monkeypatch):
    monkeypatch.setenv("STOPPOC_DATABASE_URL", "postgresql://db:5432/stoppoc")
    monkeypatch.setenv("STOPPOC_DATABASE_PASSWORD", "pw")
    with pytest.raises(ValidationError, match="names no user"):
        Settings()


def test_the_cli_reports_bad_configuration_in_one_line_with_exit_code_2(tmp_path):
    environment = {"STOPPOC_AMQP_PASSWORD_FILE": str(tmp_path / "nowhere"), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "stoppoc.cli", "dlq", "list", "payment"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("stoppoc: bad configuration: STOPPOC_AMQP_PASSWORD_FILE: cannot read ")
    assert "Traceback" not in done.stderr
