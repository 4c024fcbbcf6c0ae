"""Password hashing (billing.organizations.passwords): at most CONCURRENT_HASHES scrypt runs at once per process."""

from __future__ import annotations

import hashlib
import threading
import time

from billing.organizations import passwords


def test_no_more_than_two_hashes_run_at_once(monkeypatch):
    running, most = [0], [0]
    lock = threading.Lock()
    real_scrypt = hashlib.scrypt

    def watched(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # long enough for the other threads to pile up
        try:
            return real_scrypt(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(hashlib, "scrypt", watched)
    stored = passwords.hash_password("correct horse", n=2**10)
    threads = [threading.Thread(target=passwords.check_password, args=(stored, f"guess {i}")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert passwords.CONCURRENT_HASHES == 2
    assert most[0] == 2
