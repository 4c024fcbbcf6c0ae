"""The `Mailer` port over SMTP, with the standard library's smtplib: the only module of billing/ that speaks SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from billing.ports import OutgoingMail


class SmtpMailer:
    """Mails over SMTP with the standard library's smtplib (configured from SMTP_* variables)."""

    def __init__(self, host: str, port: int = 25, *, user: str | None = None, password: str | None = None,
                 default_from: str | None = None, starttls: bool = False, timeout: float = 30.0):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.default_from = default_from
        self.starttls = starttls
        self.timeout = timeout

    @staticmethod
    def message(mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = mail.from_address
        message["To"] = ", ".join(mail.to)
        message["Subject"] = mail.subject
        if mail.reply_to:
            message["Reply-To"] = mail.reply_to
        if mail.message_id:
            message["Message-ID"] = mail.message_id
        message.set_content(mail.text)
        for filename, mime, data in mail.attachments:
            maintype, _, subtype = mime.partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return message

    def send(self, mail: OutgoingMail) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(self.message(mail), from_addr=mail.envelope_from, to_addrs=[*mail.to, *mail.bcc])
