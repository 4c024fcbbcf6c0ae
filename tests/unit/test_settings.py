"""Settings.from_env: the embedded defaults, and every override read from the environment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from billing.settings import DEFAULT_INSTANCE, Settings


def test_defaults_are_the_embedded_setup(tmp_path: Path):
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})

    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'tally.db'}"
    assert settings.redis_url is None  # jobs run in the web process
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.instance_path == tmp_path.resolve()
    assert settings.files_path == tmp_path.resolve() / "files"
    assert settings.embedded_clock is True


def test_instance_defaults_to_the_instance_folder():
    settings = Settings.from_env({"SECRET_KEY": "given"})  # a secret given: nothing is written to ./instance

    assert settings.instance_path == DEFAULT_INSTANCE
    assert settings.database_url == f"sqlite:///{DEFAULT_INSTANCE / 'tally.db'}"


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path):
    first = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})
    second = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})

    secret_file = tmp_path / "secret_key"
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key == secret_file.read_text().strip()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_every_setting_can_be_overridden(tmp_path: Path):
    settings = Settings.from_env({
        "TALLY_INSTANCE_PATH": str(tmp_path / "inst"),
        "DATABASE_URL": "postgresql://tally:pw@db.internal/tally",
        "REDIS_URL": "redis://cache.internal:6379/1",
        "SECRET_KEY": "s3cret-from-env",
        "TALLY_BASE_URL": "https://billing.example.com/",
        "TALLY_FILES_PATH": str(tmp_path / "pdfs"),
        "TALLY_EMBEDDED_CLOCK": "0",
    })

    assert settings.database_url == "postgresql://tally:pw@db.internal/tally"
    assert settings.redis_url == "redis://cache.internal:6379/1"
    assert settings.secret_key == "s3cret-from-env"
    assert settings.base_url == "https://billing.example.com"  # trailing slash dropped
    assert settings.instance_path == (tmp_path / "inst").resolve()
    assert settings.files_path == (tmp_path / "pdfs").resolve()
    assert settings.embedded_clock is False
    assert not (tmp_path / "inst" / "secret_key").exists()  # a given secret is never written down


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TALLY_BASE_URL"])
def test_empty_values_mean_unset(tmp_path: Path, variable: str):
    defaults = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), variable: ""})

    assert settings == defaults


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("0", False), ("false", False),
                                                 ("no", False)])
def test_embedded_clock_switch(tmp_path: Path, value: str, expected: bool):
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "TALLY_EMBEDDED_CLOCK": value})

    assert settings.embedded_clock is expected


def test_reads_the_process_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TALLY_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TALLY_BASE_URL", "https://tally.example.org")
    monkeypatch.delenv("DATABASE_URL", raising=False)

    settings = Settings.from_env()

    assert settings.base_url == "https://tally.example.org"
    assert settings.database_url.endswith("/tally.db")


def test_smtp_is_off_unless_a_host_is_given(tmp_path: Path):
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})
    assert settings.smtp_host is None and settings.invoice_pdfs is True

    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "SMTP_HOST": "mail.example.com",
                                  "SMTP_USER": "u", "SMTP_PASSWORD": "p", "SMTP_FROM": "billing@example.com",
                                  "SMTP_STARTTLS": "true", "TALLY_INVOICE_PDFS": "0"})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password) == (
        "mail.example.com", 587, "u", "p")
    assert settings.smtp_from == "billing@example.com" and settings.smtp_starttls is True
    assert settings.invoice_pdfs is False
    assert Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "SMTP_HOST": "h",
                              "SMTP_PORT": "2525"}).smtp_port == 2525


def test_webhooks_to_private_networks_are_refused_unless_the_operator_allows_them(tmp_path: Path):
    assert Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)}).webhook_allow_private_networks is False
    allowed = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "TALLY_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"})
    assert allowed.webhook_allow_private_networks is True


def test_scrypt_cost_and_trusted_proxies(tmp_path: Path):
    defaults = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)})
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "TALLY_SCRYPT_N": "16384",
                                  "TALLY_TRUSTED_PROXIES": "2"})

    assert (defaults.scrypt_n, defaults.trusted_proxies) == (2**17, 0)  # OWASP's minimum; no proxy trusted
    assert (settings.scrypt_n, settings.trusted_proxies) == (2**14, 2)


def test_the_installations_frame_ancestors_are_origins_or_the_start_stops(tmp_path: Path):
    assert Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path)}).frame_ancestors == ()
    settings = Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path),
                                  "TALLY_FRAME_ANCESTORS": "https://App.example.com, http://localhost:5001"})
    assert settings.frame_ancestors == ("https://app.example.com", "http://localhost:5001")
    with pytest.raises(ValueError, match="TALLY_FRAME_ANCESTORS"):
        Settings.from_env({"TALLY_INSTANCE_PATH": str(tmp_path), "TALLY_FRAME_ANCESTORS": "https://a.com/path"})
