"""The organization's default language of documents (Lago's `document_locale` on the organization): the language of
the portal, PDFs and emails of each customer without one Tally ships (billing.i18n.document_language)."""

from __future__ import annotations

from billing.audit.services import record
from billing.db import read_only, unit_of_work
from billing.errors import ValidationFailed
from billing.i18n import ENGLISH, LANGUAGES
from billing.organizations.services import get_organization


def read_document_locale(*, organization_id: str) -> str:
    """The organization's language of documents (English when none was chosen)."""
    with read_only() as session:
        return get_organization(session, organization_id).document_locale or ENGLISH


def update_document_locale(*, organization_id: str, document_locale: str | None) -> str:
    """Choose the organization's language of documents: one of the languages Tally ships, audited."""
    code = (document_locale or "").strip().lower()
    if code not in LANGUAGES:
        raise ValidationFailed({"document_locale": ["value_is_invalid"]})
    with unit_of_work() as uow:
        organization = get_organization(uow.session, organization_id)
        before = organization.document_locale or ENGLISH
        organization.document_locale = code
        if before != code:
            record(uow.session, organization_id=organization_id, action="organization.document_locale_updated",
                   object_type="organization", object_id=organization_id, object_label=organization.name,
                   before={"document_locale": before}, after={"document_locale": code})
        return code
