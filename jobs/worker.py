"""The RQ worker class Tally runs: `rq worker -w jobs.worker.TallyWorker --with-scheduler`.

rq's SimpleWorker runs each job in the worker's own process (no fork per job: the rollup job runs up to
twice a second, and a fork plus a new database connection per run cost more than the job), but it
renews no heartbeat while a job runs: it registers the job as started for its whole timeout plus 60 s
(11 minutes for Tally's 10-minute jobs), so a worker killed mid-job left the job looking alive that
long. This one renews the heartbeat from a thread every `job_monitoring_interval` (30 s) with a TTL of
that plus 60 s, as rq's forking Worker does: a killed worker's job is seen abandoned after ~90 s and
`jobs.recovery` puts it back on the queue.
"""

from __future__ import annotations

import logging
import threading

from rq.worker import SimpleWorker

log = logging.getLogger(__name__)


class TallyWorker(SimpleWorker):
    def get_heartbeat_ttl(self, job) -> int:
        return int(self.job_monitoring_interval) + 60

    def execute_job(self, job, queue) -> None:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job)
                except Exception:  # a missed beat only shortens the margin; the job goes on
                    log.warning("heartbeat of job %s failed", job.id, exc_info=True)

        beating = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
        beating.start()
        try:
            super().execute_job(job, queue)
        finally:
            stop.set()
            beating.join()
