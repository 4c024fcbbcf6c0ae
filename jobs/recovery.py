"""Pick up again the jobs a killed worker abandoned, within minutes rather than at the next clock run.

How rq 2.6 sees an abandoned job: a worker registers each execution in the queue's StartedJobRegistry
with a score of now + heartbeat TTL (`Worker.get_heartbeat_ttl`: at most the job monitoring interval,
30 s, plus 60 s) and renews it while the job runs. A worker killed with SIGKILL renews nothing, so its
entry expires about 90 s later; a job a worker popped but never started stays in the queue's
intermediate list. rq itself cleans these up only in a live worker's maintenance (every 10 minutes),
and an abandoned job whose retries are used up goes to the FailedJobRegistry, to wait for the next
hourly clock run.

`recover_abandoned_jobs` (run by `rq cron` every 2 minutes, jobs/cron.py) does that cleanup at once and
puts every abandoned job of Tally's own tasks (`jobs.tasks.*`, each safe to rerun: billing batches, PDFs,
webhook and email deliveries, rollups) straight back on its queue, retries left or not. Other jobs get
rq's usual treatment.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from jobs.dispatch import QUEUE_NAME

log = logging.getLogger(__name__)

TALLY_TASKS = "jobs.tasks."
# rq's own rule for a job stuck in the intermediate list (IntermediateQueue.should_be_cleaned_up).
INTERMEDIATE_GRACE_SECONDS = 60
MAX_RECOVERIES = 3  # per job


def _ours(job: Job) -> bool:
    return (job.func_name or "").startswith(TALLY_TASKS)


def _put_back(queue: Queue, job: Job) -> bool:
    """Enqueue the job again now, from wherever rq's cleanup left it (failed, scheduled for a retry).

    Not after MAX_RECOVERIES: a job that kills its worker every time (out of memory, say) is left to rq
    (retried with its back-off while it has retries, then failed) rather than taking workers down in a loop.
    """
    job = Job.fetch(job.id, connection=queue.connection)
    recoveries = int(job.meta.get("tally_recoveries", 0))
    if recoveries >= MAX_RECOVERIES:
        log.error("job %s was abandoned %d times: left to rq's retries", job.id, recoveries + 1)
        return False
    job.meta["tally_recoveries"] = recoveries + 1
    job.save_meta()
    status = job.get_status(refresh=True)
    if status == JobStatus.FAILED:
        FailedJobRegistry(queue=queue).requeue(job, at_front=True)
    elif status == JobStatus.SCHEDULED:
        ScheduledJobRegistry(queue=queue).remove(job)
        queue.enqueue_job(job, at_front=True)
    elif status in (JobStatus.STARTED, JobStatus.STOPPED, JobStatus.CANCELED, None):
        queue.enqueue_job(job, at_front=True)
    else:  # queued already (rq's cleanup retried it), or finished meanwhile
        return False
    return True


def recover_abandoned_jobs(*, connection: Redis | None = None, queue_name: str = QUEUE_NAME,
                           timestamp: float | None = None) -> list[str]:
    """Requeue the Tally jobs whose worker died (heartbeat expired by `timestamp`, default now); their ids."""
    if connection is None:
        from rq import get_current_job

        current = get_current_job()
        if current is None:
            from billing.settings import Settings

            connection = Redis.from_url(Settings.from_env().redis_url)
        else:
            connection = current.connection
    queue = Queue(queue_name, connection=connection)
    now = timestamp if timestamp is not None else time.time()
    started = StartedJobRegistry(queue=queue)
    abandoned = []
    for job_id in dict.fromkeys(started.get_expired_job_ids(now)):
        try:
            abandoned.append(Job.fetch(job_id, connection=connection))
        except NoSuchJobError:
            continue
    started.cleanup(now)  # rq's treatment: the failure callback, then a retry or the failed registry
    recovered = []
    for job in abandoned:
        if _ours(job) and _put_back(queue, job):
            recovered.append(job.id)
    # Popped from the queue by a worker that died before starting it.
    intermediate = queue.intermediate_queue
    for job_id in intermediate.get_job_ids():
        if job_id in started:
            continue
        job = queue.fetch_job(job_id)
        if job is None:
            intermediate.remove(job_id)
            continue
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen is None:
            intermediate.set_first_seen(job_id)
            continue
        if now - first_seen.timestamp() < INTERMEDIATE_GRACE_SECONDS or not _ours(job):
            continue
        intermediate.remove(job_id)
        if _put_back(queue, job):
            recovered.append(job_id)
    for job_id in recovered:
        log.warning("job %s was abandoned by a worker that died: enqueued again", job_id)
    return recovered
