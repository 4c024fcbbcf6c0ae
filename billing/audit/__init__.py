"""The audit trail: who changed what and when, appended in the transaction of the change."""
