"""The Dispatcher port, implemented with RQ or with a thread inside the web process."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
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
    """Enqueue `jobs.tasks.<task>` on Redis; a job id already waiting to run is not enqueued twice.

    A request for a job that is *running* queues one more run after it (under a second id): the
    request may be about data the running job has already passed (e.g. events committed after
    the rollup job read its high-water mark), so dropping it could leave that work undone.
    """

    def __init__(self, redis_url: str):
        from redis import Redis
        from rq import Queue, Retry

        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)
        self._retry = Retry(max=3, interval=[10, 60, 300])

    def _status(self, job_id: str):
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            return Job.fetch(job_id, connection=self.connection).get_status(refresh=True)
        except NoSuchJobError:
            return None

    def _statuses(self, job_ids: Sequence[str]) -> dict[str, str | None]:
        """The status of each job id (None: no such job), read in one round trip."""
        from rq.job import Job

        pipe = self.connection.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "status")
        return {job_id: status.decode() if status else None
                for job_id, status in zip(job_ids, pipe.execute(), strict=True)}

    def _free_id(self, job_id: str | None, status_of: Callable[[str], Any] | None = None) -> str | None | bool:
        """The id to enqueue under; False when a run that has not started yet is already waiting."""
        from rq.job import JobStatus

        if not job_id:
            return None
        status_of = status_of or self._status
        waiting = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
        for candidate in (job_id, f"{job_id}+again"):
            status = status_of(candidate)
            if status in waiting:
                return False
            if status != JobStatus.STARTED:
                return candidate
        return f"{job_id}+{uuid.uuid4().hex[:8]}"  # both running (two workers): one more after them

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
        free = self._free_id(job_id)
        if free is False:
            return False
        self.queue.enqueue(f"jobs.tasks.{task}", kwargs=kwargs, job_id=free, retry=self._retry,
                           job_timeout=600, result_ttl=3600, failure_ttl=7 * 86400)
        return True

    def enqueue_many(self, task: str, jobs: Sequence[tuple[str | None, Mapping[str, Any]]]) -> int:
        """Enqueue many jobs of one task, (job id, arguments) each, in two round trips to Redis.

        The same rules as `enqueue`, with every job's state read in one pipeline and the new jobs
        written in another (`Queue.enqueue_many`); an id given twice is enqueued once. Returns how many
        jobs were enqueued.
        """
        from rq import Queue
        from rq.job import JobStatus

        ids = [job_id for job_id, _ in jobs if job_id]
        statuses = self._statuses([candidate for job_id in dict.fromkeys(ids)
                                   for candidate in (job_id, f"{job_id}+again")])
        prepared = []
        for job_id, kwargs in jobs:
            free = self._free_id(job_id, statuses.get)
            if free is False:
                continue
            if free:
                statuses[free] = JobStatus.QUEUED  # the same id later in this call: waiting already
            prepared.append(Queue.prepare_data(f"jobs.tasks.{task}", kwargs=dict(kwargs), job_id=free,
                                               retry=self._retry, timeout=600, result_ttl=3600,
                                               failure_ttl=7 * 86400))
        if prepared:
            self.queue.enqueue_many(prepared)
        return len(prepared)

    def enqueue_in(self, delay: timedelta, task: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        """Schedule the job (`rq worker --with-scheduler` moves it to the queue when it is due)."""
        free = self._free_id(job_id)
        if free is False:
            return
        self.queue.enqueue_in(delay, f"jobs.tasks.{task}", kwargs=kwargs, job_id=free, retry=self._retry,
                              job_timeout=600, result_ttl=3600, failure_ttl=7 * 86400)


class InProcessDispatcher:
    """Runs jobs one by one on a daemon thread of the web process (the embedded default: no Redis).

    A job that fails is logged and dropped; since every task is idempotent, the next clock run
    picks up whatever it left undone. As with RQ, a job id is deduplicated only while the job waits:
    a request arriving while it runs queues one more run.
    """

    def __init__(self, *, synchronous: bool = False):
        self.synchronous = synchronous
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def enqueue(self, task: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
        if self.synchronous:
            self._run(task, kwargs)
            return True
        with self._lock:
            if job_id and job_id in self._pending:
                return False
            if job_id:
                self._pending.add(job_id)
            self._queue.put((task, {"__job_id": job_id, **kwargs}))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="tally-jobs", daemon=True)
                self._thread.start()
        return True

    def enqueue_many(self, task: str, jobs: Sequence[tuple[str | None, Mapping[str, Any]]]) -> int:
        """Enqueue each of (job id, arguments); returns how many were not waiting already."""
        with self._lock:
            waiting = set(self._pending)
        count = 0
        for job_id, kwargs in jobs:
            if job_id and job_id in waiting:
                continue
            if job_id:
                waiting.add(job_id)
            self.enqueue(task, job_id=job_id, **kwargs)
            count += 1
        return count

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
            with self._lock:
                self._pending.discard(job_id)  # running now: a new request must queue another run
            try:
                self._run(task, kwargs)
            finally:
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
