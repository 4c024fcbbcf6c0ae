"""Template filters shared by the portal and admin screens."""

from __future__ import annotations

from flask import Flask, g
from flask_wtf.csrf import generate_csrf

import wording
from billing import i18n
from billing.money import format_unit_price, to_major
from billing.subscriptions.periods import local_date
from wording import entitlements as wording_entitlements
from wording.alerts import alert_type, crossed_notice, threshold_text
from wording.dates import moment_text


def form_token() -> str:
    """`csrf_token()` in templates: on a page opened by a signed link (portal, widget), the token bound to that
    link (portal.link_forms: no cookie needed inside a third-party iframe); elsewhere, the session's."""
    return g.get("link_form_token") or generate_csrf()


def register(app: Flask) -> None:
    # Every request starts in English (the admin's language); a portal, widget or pay page then sets its customer's.
    # It ends in English too: a thread serves one request after another, and jobs may run in it (nothing carries over).
    app.before_request(lambda: i18n.set_language(None))
    app.teardown_request(lambda _error: i18n.set_language(None))
    # flask-wtf sets both a global and a context processor; later ones win, in templates and their macros.
    app.jinja_env.globals["csrf_token"] = form_token
    app.context_processor(lambda: {"csrf_token": form_token})
    # Amounts and days in the language of the render (billing.i18n: the portal's customer's, English elsewhere).
    app.jinja_env.filters["money"] = lambda cents, currency: i18n.money_text(cents, currency)
    # A fee's unit price, rounded for display as on the PDFs (billing.money.displayed_unit_price).
    app.jinja_env.filters["unit_price"] = lambda amount, currency: format_unit_price(amount, currency or "USD",
                                                                                    i18n.babel_locale())
    app.jinja_env.filters["day_text"] = i18n.day_text
    app.jinja_env.globals["current_language"] = i18n.current
    app.jinja_env.filters["units"] = i18n.number_text  # "2.5" in English, "2,5" in French
    # An amount in minor units as a form field shows it ("10.00"); none: empty.
    app.jinja_env.filters["money_input"] = lambda cents, currency: (
        "" if cents is None else str(to_major(int(cents), currency or "USD")))
    app.jinja_env.filters["local_date"] = lambda moment, tz="UTC": local_date(moment, tz) if moment else ""
    app.jinja_env.filters["datetime"] = moment_text
    # Words built in Python (the `wording` package), in the render's language.
    app.jinja_env.filters["fee_text"] = wording.fee_text
    app.jinja_env.filters["charge_text"] = wording.charge_text
    app.jinja_env.filters["filter_prices"] = wording.filter_prices
    app.jinja_env.filters["adjustment_text"] = wording.adjustment_text
    # A global, not a filter: _macros.html is shared with the PDFs' own environment, which has no such filter.
    app.jinja_env.globals["alert_notice"] = crossed_notice
    app.jinja_env.filters["alert_type"] = alert_type
    app.jinja_env.filters["alert_threshold"] = threshold_text
    app.jinja_env.filters["feature_words"] = wording_entitlements.feature_words
    # Templates say `{{ _("...") }}` and `ngettext(...)` (Jinja's i18n extension, newstyle: `%(num)d`, a literal
    # `%` written `%%`), looked up in the catalog of the render's language (billing.i18n.current).
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True)
