"""Background work: RQ queues (or an in-process runner when no Redis is configured), tasks and the cron schedule."""
