"""The lines every customer email ends with: a fresh link to the customer's billing portal.

Made when the mail is built (sent or retried), so that it is valid for the portal's 12 hours from then; an old
email's expired link still opens the portal's "send me a new link" page (portal.recovery).
"""

from __future__ import annotations

from billing import links
from billing.customers.models import Customer
from billing.i18n import N_, gettext
from billing.ports import runtime

INVITATION = N_("Your billing portal (usage, invoices, details)")


def portal_link_lines(customer: Customer, invitation: str = INVITATION) -> list[str]:
    """The invitation and the link, then a blank line; nothing without signed links configured. In the language of
    the mail being written (billing.i18n.using around it); `invitation` is an English sentence marked N_."""
    if not (runtime.secret_key and runtime.base_url):
        return []
    return [gettext("{invitation}, valid for 12 hours:").format(invitation=gettext(invitation)),
            links.portal_url(customer_id=customer.id, organization_id=customer.organization_id), ""]
