"""Local stand-ins for outside services, run for the tests and the demo (localstripe for Stripe)."""
