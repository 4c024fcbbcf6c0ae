"""Customer emails: an outbox of mails written with the change they announce, sent by a job."""
