"""The Dispatcher port, implemented with RQ or with a thread inside the web process."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import timedelta
from typing import Any

from billing.settings import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "default"


def make_dispatcher(settings: Settings):
    if settings.redis_url:
        return RQDispatcher(settings.redis_url)
    return InProcessDispatcher()


class RQDispatcher:
    """Enqueue `jobs.tasks.<task>` on Redis; a job id already queued or running is not enqueued twice."""

    def __init__(self, redis_url: str):
        from redis import Redis
        from rq import Queue, Retry

        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)
        self._retry = Retry(max=3, interval=[10, 60, 300])

    def _busy(self, job_id: str) -> bool:
        """A job with this id is queued, running or scheduled already."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        try:
            status = Job.fetch(job_id, connection=self.connection).get_status(refresh=True)
        except NoSuchJobError:
            return False
        return status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        if job_id and self._busy(job_id):
            return
        self.queue.enqueue(f"jobs.tasks.{task}", kwargs=kwargs, job_id=job_id, retry=self._retry,
                           job_timeout=600, result_ttl=3600, failure_ttl=7 * 86400)

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        """Schedule the job (`rq worker --with-scheduler` moves it to the queue when it is due)."""
        if job_id and self._busy(job_id):
            return
        self.queue.enqueue_in(delay, f"jobs.tasks.{task}", kwargs=kwargs, job_id=job_id, retry=self._retry,
                              job_timeout=600, result_ttl=3600, failure_ttl=7 * 86400)


class InProcessDispatcher:
    """Runs jobs one by one on a daemon thread of the web process (the embedded default: no Redis).

    A job that fails is logged and dropped; since every task is idempotent, the next clock run
    picks up whatever it left undone.
    """

    def __init__(self, *, synchronous: bool = False):
        self.synchronous = synchronous
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        if self.synchronous:
            self._run(task, kwargs)
            return
        with self._lock:
            if job_id and job_id in self._pending:
                return
            if job_id:
                self._pending.add(job_id)
            self._queue.put((task, {"__job_id": job_id, **kwargs}))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="tally-jobs", daemon=True)
                self._thread.start()

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        """Enqueue after `delay` on a timer thread; lost if the process stops, which the clock's sweeps cover."""
        if self.synchronous:
            return  # nothing runs later in synchronous mode: the caller's sweep asks again when due
        timer = threading.Timer(delay.total_seconds(), self.enqueue, args=(task,),
                                kwargs={"job_id": job_id, **kwargs})
        timer.daemon = True
        timer.start()

    def _work(self) -> None:
        while True:
            task, kwargs = self._queue.get()
            job_id = kwargs.pop("__job_id", None)
            try:
                self._run(task, kwargs)
            finally:
                with self._lock:
                    self._pending.discard(job_id)
                self._queue.task_done()

    def _run(self, task: str, kwargs: dict[str, Any]) -> None:
        from jobs.tasks import TASKS

        try:
            TASKS[task](**kwargs)
        except Exception:
            log.exception("job %s failed", task)
            if self.synchronous:
                raise

    def join(self) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        self._queue.join()
