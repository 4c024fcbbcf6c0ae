"""Schedule for `rq cron jobs.cron` (run exactly one such process, with TZ=UTC).

rq cron does not catch up missed slots; the billing clock does, by billing every ended
period that has no invoice yet, whenever it runs. The webhook sweep likewise asks for every
delivery and email that is due, however late.
"""

from rq import cron

from jobs.recovery import recover_abandoned_jobs
from jobs.tasks import collect_stalled_payments, deliver_due_webhooks, run_billing_clock, send_due_emails

cron.register(run_billing_clock, queue_name="default", cron="0 * * * *", job_timeout=1800)
# Webhook retries are scheduled on RQ itself; this sweep only recovers deliveries whose job was
# lost (a worker killed mid-request, Redis flushed), so a few minutes late is fine.
cron.register(deliver_due_webhooks, queue_name="default", cron="*/5 * * * *", job_timeout=300)
# Email retries too are scheduled on RQ; this sweep recovers the ones whose job was lost.
cron.register(send_due_emails, queue_name="default", cron="*/5 * * * *", job_timeout=300)
# A worker killed mid-job (SIGKILL, OOM) leaves its job "started": once its heartbeat has expired
# (about 90 s), this puts it back on the queue (jobs/recovery.py), so it runs again within ~4 minutes.
cron.register(recover_abandoned_jobs, queue_name="default", cron="*/2 * * * *", job_timeout=120)
# A charge whose worker died between the provider's answer and Tally's write is asked for again (same
# idempotency key, so the provider charges once): 10 minutes after it started, at the latest 15.
cron.register(collect_stalled_payments, queue_name="default", cron="*/5 * * * *", job_timeout=300)
