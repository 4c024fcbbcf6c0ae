"""The email tests' real SMTP server (aiosmtpd), as a fixture of this folder."""

from tests.smtp_sink import smtp  # noqa: F401
