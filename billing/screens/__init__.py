"""Read models for the screens: what the admin and the portal show, read in one session and returned as
plain data (numbers, Decimals, dates, codes; never sentences: the `wording` package words them).

The top layer of billing/: it may import any domain package, and none imports it (.importlinter).
"""
