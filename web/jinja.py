"""Template filters shared by the portal and admin screens."""

from __future__ import annotations

from flask import Flask, g
from flask_wtf.csrf import generate_csrf

import wording
from billing.money import decimal_str, format_money, format_price, to_major
from billing.subscriptions.periods import local_date
from wording import entitlements as wording_entitlements
from wording.alerts import alert_type, crossed_notice, threshold_text
from wording.dates import moment_text


def form_token() -> str:
    """`csrf_token()` in templates: on a page opened by a signed link (portal, widget), the token bound to that
    link (portal.link_forms: no cookie needed inside a third-party iframe); elsewhere, the session's."""
    return g.get("link_form_token") or generate_csrf()


def register(app: Flask) -> None:
    # flask-wtf sets both a global and a context processor; later ones win, in templates and their macros.
    app.jinja_env.globals["csrf_token"] = form_token
    app.context_processor(lambda: {"csrf_token": form_token})
    app.jinja_env.filters["money"] = lambda cents, currency: format_money(int(cents or 0), currency or "USD")
    app.jinja_env.filters["price"] = lambda amount, currency: format_price(amount, currency or "USD")
    app.jinja_env.filters["units"] = decimal_str
    # An amount in minor units as a form field shows it ("10.00"); none: empty.
    app.jinja_env.filters["money_input"] = lambda cents, currency: (
        "" if cents is None else str(to_major(int(cents), currency or "USD")))
    app.jinja_env.filters["local_date"] = lambda moment, tz="UTC": local_date(moment, tz) if moment else ""
    app.jinja_env.filters["datetime"] = moment_text
    # Words built in Python (the `wording` package), for a template's locale (English until catalogs exist).
    app.jinja_env.filters["fee_text"] = wording.fee_text
    app.jinja_env.filters["charge_text"] = wording.charge_text
    app.jinja_env.filters["filter_prices"] = wording.filter_prices
    app.jinja_env.filters["adjustment_text"] = wording.adjustment_text
    # A global, not a filter: _macros.html is shared with the PDFs' own environment, which has no such filter.
    app.jinja_env.globals["alert_notice"] = crossed_notice
    app.jinja_env.filters["alert_type"] = alert_type
    app.jinja_env.filters["alert_threshold"] = threshold_text
    app.jinja_env.filters["feature_words"] = wording_entitlements.feature_words
    # Templates word their plurals with gettext's ngettext (Jinja's i18n extension, newstyle: `%(num)d`).
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext=wording.gettext, ngettext=wording.ngettext, newstyle=True)
