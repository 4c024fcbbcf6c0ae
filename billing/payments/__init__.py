"""Collecting what Tally bills through payment providers: the port, the registry, the adapters."""
