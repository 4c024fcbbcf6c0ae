"""What the core needs from the outside world, as Protocols, and where the running process plugs them in."""

# The implementations live elsewhere: the standard library's in billing/adapters/, the job queue's in
# jobs/dispatch.py, the payment providers' behind their own port in billing/payments/.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

# The defaults a process starts with, until `configure` plugs in its own; the SMTP adapter is not one
# of them (no mail until SMTP is configured), so smtplib is imported only where mail is sent.
from billing.adapters.clock import SystemClock
from billing.adapters.dispatch import ImmediateDispatcher
from billing.adapters.files import LocalFileStore


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


class FileStore(Protocol):
    def save(self, key: str, data: bytes) -> None: ...
    def load(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...


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
    bcc: tuple[str, ...] = ()  # blind copies: envelope recipients only, never a header


class Mailer(Protocol):
    """Sends one email or raises (any exception is a failed attempt, retried by the caller)."""

    def send(self, mail: OutgoingMail) -> None: ...


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
    # The origins that may frame the widgets and portal of an organization that lists none (TALLY_FRAME_ANCESTORS).
    frame_ancestors: tuple[str, ...] = ()


runtime = Runtime(dispatcher=ImmediateDispatcher(), clock=SystemClock(), files=LocalFileStore("instance/files"))


def configure(*, dispatcher: Dispatcher | None = None, clock: Clock | None = None,
              files: FileStore | None = None, base_url: str | None = None,
              secret_key: str | None = None, rollup_delay: float | None = None,
              mailer: Mailer | None | bool = False, mail_from: str | None = None,
              invoice_pdfs: bool | None = None, webhook_allow_private_networks: bool | None = None,
              frame_ancestors: tuple[str, ...] | None = None) -> Runtime:
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
    if frame_ancestors is not None:
        runtime.frame_ancestors = tuple(frame_ancestors)
    return runtime
