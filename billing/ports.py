"""What the core needs from the outside world, as Protocols, and where the running process plugs them in."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol


class Dispatcher(Protocol):
    """Runs a job of `jobs.tasks` by name in the background (RQ, or a thread when embedded)."""

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
        """Queue a run; False when a run of `job_id` that has not started yet is waiting already."""
        ...

    def enqueue_many(self, task: str, jobs: Sequence[tuple[str | None, Mapping[str, Any]]]) -> int:
        """Enqueue many jobs of one task, (job id, arguments) each, as `enqueue` would; returns how many."""
        ...

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        """Run the job once `delay` has passed (best effort: callers keep a sweep for what is lost)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileStore(Protocol):
    def save(self, key: str, data: bytes) -> None: ...
    def load(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...


class LocalFileStore:
    """Files (invoice PDFs) under one directory, keyed by relative path."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"file key escapes the store: {key!r}")
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a PDF

    def load(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


@dataclass(frozen=True)
class OutgoingMail:
    """One email, neutral of any mail library: who sends it, to whom, what it says, what it carries."""

    from_address: str  # the From header ("Acme <billing@acme.test>")
    to: tuple[str, ...]
    subject: str
    text: str
    envelope_from: str | None = None  # the SMTP sender (bounces); the From address when None
    reply_to: str | None = None
    message_id: str | None = None  # stable across retries, so a receiver can drop a duplicate
    attachments: tuple[tuple[str, str, bytes], ...] = field(default=())  # (filename, mime type, data)


class Mailer(Protocol):
    """Sends one email or raises (any exception is a failed attempt, retried by the caller)."""

    def send(self, mail: OutgoingMail) -> None: ...


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
            smtp.send_message(self.message(mail), from_addr=mail.envelope_from, to_addrs=list(mail.to))


class ImmediateDispatcher:
    """Runs nothing: used before the process has configured a real dispatcher."""

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
        raise RuntimeError(f"no dispatcher configured to run {task}")

    def enqueue_many(self, task: str, jobs: Sequence[tuple[str | None, Mapping[str, Any]]]) -> int:
        raise RuntimeError(f"no dispatcher configured to run {task}")

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        raise RuntimeError(f"no dispatcher configured to run {task}")


@dataclass
class Runtime:
    dispatcher: Dispatcher
    clock: Clock
    files: FileStore
    base_url: str = "http://127.0.0.1:5000"
    secret_key: str = ""
    # Seconds between two requests for the rollup job from one process (0: every ingestion asks).
    rollup_delay: float = 0.0
    # None: no SMTP configured (the embedded default): invoices are not emailed.
    mailer: Mailer | None = None
    # The sender address used when an organization has no email of its own (SMTP_FROM).
    mail_from: str | None = None
    # Render each invoice's PDF in the background once it is finalized (else on first download).
    invoice_pdfs: bool = True
    # Send webhooks to loopback, private and link-local addresses too (TALLY_WEBHOOK_ALLOW_PRIVATE_NETWORKS).
    webhook_allow_private_networks: bool = False


runtime = Runtime(dispatcher=ImmediateDispatcher(), clock=SystemClock(), files=LocalFileStore("instance/files"))


def configure(*, dispatcher: Dispatcher | None = None, clock: Clock | None = None,
              files: FileStore | None = None, base_url: str | None = None,
              secret_key: str | None = None, rollup_delay: float | None = None,
              mailer: Mailer | None | bool = False, mail_from: str | None = None,
              invoice_pdfs: bool | None = None, webhook_allow_private_networks: bool | None = None) -> Runtime:
    """Plug the process's adapters into the core (app factory, worker start-up, tests)."""
    if dispatcher is not None:
        runtime.dispatcher = dispatcher
    if clock is not None:
        runtime.clock = clock
    if files is not None:
        runtime.files = files
    if base_url is not None:
        runtime.base_url = base_url.rstrip("/")
    if secret_key is not None:
        runtime.secret_key = secret_key
    if rollup_delay is not None:
        runtime.rollup_delay = rollup_delay
    if mailer is not False:  # None switches mail off
        runtime.mailer = mailer
    if mail_from is not None:
        runtime.mail_from = mail_from
    if invoice_pdfs is not None:
        runtime.invoice_pdfs = invoice_pdfs
    if webhook_allow_private_networks is not None:
        runtime.webhook_allow_private_networks = webhook_allow_private_networks
    return runtime
