"""Schedule for `rq cron jobs.cron` (run exactly one such process, with TZ=UTC).

rq cron does not catch up missed slots; the billing clock does, by billing every ended
period that has no invoice yet, whenever it runs.
"""

from rq import cron

from jobs.tasks import run_billing_clock

cron.register(run_billing_clock, queue_name="default", cron="0 * * * *", job_timeout=1800)
