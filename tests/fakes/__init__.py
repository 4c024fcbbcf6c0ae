"""Fakes of payment providers' APIs that no package provides: small HTTP servers on 127.0.0.1 for the tests."""
