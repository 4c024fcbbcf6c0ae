"""Embedding Tally's screens in a host product: who may frame them, how they look, and the embed token.

- `origins`: the host origins an organization allows to frame its widgets and portal (pure).
- `branding`: its accent colour (with colours that keep their contrast in both themes) and logo (pure).
- `models` and `services`: the organization's embedding settings, and the embed tokens its backend asks for.
"""
