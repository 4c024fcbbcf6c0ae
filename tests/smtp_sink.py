"""A real SMTP server on 127.0.0.1 (aiosmtpd) that the app's mailer sends to, for the email tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller

from billing import ports
from billing.adapters.smtp import SmtpMailer


class Sink:
    """An SMTP server's message handler that records what it accepts and refuses the first `refuse` DATAs."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in self.messages]


@pytest.fixture
def smtp(app):
    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    ports.configure(mailer=SmtpMailer("127.0.0.1", controller.port, default_from="billing@tally.test"),
                    mail_from="billing@tally.test")
    try:
        yield sink
    finally:
        ports.configure(mailer=None)
        ports.runtime.mail_from = None
        controller.stop()
