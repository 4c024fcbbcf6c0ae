"""gunicorn's settings for Tally, read from the working directory: `gunicorn -b 0.0.0.0:8000 wsgi:app`.

More processes, fewer threads: Python runs one thread of a process at a time, and a request
waiting for that turn leaves the cores idle while PostgreSQL waits for it. On 2 cores, batch
ingestion accepted ≈ 40,000 events/s with 4 processes × 2 threads (cores busy 1.8 of 2), against
≈ 32,000 with 2 × 4 (busy 1.45) and ≈ 30,000 with 3 × 4 (bench/README.md). Command-line options
and GUNICORN_CMD_ARGS override these.
"""

import multiprocessing

worker_class = "gthread"
workers = 2 * multiprocessing.cpu_count()
threads = 2
