"""What the core needs from the outside world, as Protocols, and where the running process plugs them in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol


class Dispatcher(Protocol):
    """Runs a job of `jobs.tasks` by name in the background (RQ, or a thread when embedded)."""

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> None: ...

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


class ImmediateDispatcher:
    """Runs nothing: used before the process has configured a real dispatcher."""

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
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


runtime = Runtime(dispatcher=ImmediateDispatcher(), clock=SystemClock(), files=LocalFileStore("instance/files"))


def configure(*, dispatcher: Dispatcher | None = None, clock: Clock | None = None,
              files: FileStore | None = None, base_url: str | None = None,
              secret_key: str | None = None, rollup_delay: float | None = None) -> Runtime:
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
    return runtime
