"""/admin/ and /admin/home: what needs attention, then how the business is doing (billing.screens.home).

Each chart's period (3, 6 or 12 months) and the currency live in the URL (`mrr_months`, `revenue_months`,
`usage_months`, `customers_months`, `currency`); a change through htmx redraws only its chart, the one whose
element is the request's `HX-Target`, and pushes the new URL.
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from admin import roles
from admin.blueprint import admin_blueprint, organization_id
from billing.screens import home as home_screen
from web.htmx import is_htmx_request, render_page
from wording.home import change_text, month_name

HOME_PAGE = "admin/home.html"
CHARTS = {"mrr": home_screen.mrr_chart, "revenue": home_screen.revenue_chart, "usage": home_screen.usage_chart,
          "customers": home_screen.top_customers_chart}


def _months(chart: str) -> int:
    raw = request.args.get(f"{chart}_months", "")
    return int(raw) if raw.isdigit() and int(raw) in home_screen.PERIODS else home_screen.DEFAULT_PERIOD


@admin_blueprint.get("/home")
@admin_blueprint.get("/")
def home() -> ResponseReturnValue:
    organization = organization_id()
    # The business figures are analytics: a manager's home shows only what needs attention (admin.roles).
    if not roles.may(current_user.role, roles.ANALYTICS):
        return render_page(HOME_PAGE, "content", sees_business=False,
                           attention=home_screen.needs_attention(organization_id=organization))
    currencies = home_screen.currencies(organization_id=organization)
    asked = request.args.get("currency", "").strip().upper()
    currency = asked if asked in currencies else currencies[0]
    target = request.headers.get("HX-Target", "") if is_htmx_request() else ""
    one_chart = target.removeprefix("chart-") if target.removeprefix("chart-") in CHARTS else None
    drawn = [one_chart] if one_chart else list(CHARTS)
    charts = {name: CHARTS[name](organization_id=organization, currency=currency, months=_months(name))
              for name in drawn}
    attention = (None if one_chart or target == "business"
                 else home_screen.needs_attention(organization_id=organization))
    block = f"chart_{one_chart}" if one_chart else "business"
    return render_page(HOME_PAGE, block, sees_business=True, attention=attention, charts=charts, currency=currency,
                       currencies=currencies, periods=home_screen.PERIODS,
                       change_text=change_text, month_name=month_name)
