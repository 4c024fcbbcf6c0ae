"""gunicorn's settings for Tally, read from the working directory: `gunicorn -b 0.0.0.0:8000 wsgi:app`.

Processes, not only threads: Python runs one thread of a process at a time, and a request
waiting for that turn leaves the cores idle while PostgreSQL waits for it. Enough threads that a
process never makes a kept-alive connection wait for one: connections stay with the process that
accepted them, and the kernel does not share them out evenly. On 2 cores, batch ingestion accepted
≈ 40,000 events/s with 4 processes × 4 threads (four runs: 37–42k), 29–42k with 4 × 2, ≈ 32,000
with 2 × 4 (cores busy 1.45 of 2) and ≈ 30,000 with 3 × 4 (bench/README.md). Command-line
options and GUNICORN_CMD_ARGS override these.
"""

import gc
import multiprocessing

worker_class = "gthread"
workers = 2 * multiprocessing.cpu_count()
threads = 4


def post_worker_init(worker):
    # What the worker loaded before its first request (Flask, SQLAlchemy's mappers, Babel's locale data, the
    # templates, WeasyPrint's fonts) lives as long as the process: moved out of the garbage collector's sight, a full
    # collection walks only what requests made. One render of an invoice PDF in eight paid a full collection of the
    # whole process, ~50 ms of its p95 (bench/README.md, Invoice PDF).
    gc.freeze()
