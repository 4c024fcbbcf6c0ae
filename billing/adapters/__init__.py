"""The standard library's implementations of the ports in `billing/ports.py` (clock, files, SMTP mail)."""
