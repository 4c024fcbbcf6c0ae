"""Outgoing webhooks, Lago-compatible: endpoints, an outbox of deliveries written in the caller's
transaction, signed delivery with retries, and a log of every attempt."""
