"""Lago's analytics (MRR, gross revenue, invoiced usage, overdue balance, invoice collection), read in SQL.

`months.py` says which months a report covers and puts a row in its month (the organization's
timezone); `reports.py` holds the five reports, each one aggregate query returning small dataclasses.
The API (`api/analytics.py`) and the admin's home (`billing/screens/home.py`) read the same functions.
"""
