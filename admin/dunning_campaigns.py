"""The dunning campaign editor's form: read from the request (thresholds are rows of a currency and an amount in
major units) or from a campaign, and turned into the data `billing.dunning.campaigns` takes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from billing.dunning.models import DunningCampaign
from billing.dunning.reminders import DEFAULT_MESSAGE, DEFAULT_SUBJECT
from billing.money import to_major, to_minor_exactly
from wording import dunning as words

EXTRA_ROWS = 2  # empty threshold rows offered below the filled ones
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass
class CampaignForm:
    name: str = ""
    code: str = ""
    description: str = ""
    max_attempts: str = "3"
    days_between_attempts: str = "3"
    bcc_emails: str = ""
    applied_to_organization: bool = False
    reminder_subject: str = DEFAULT_SUBJECT
    reminder_message: str = DEFAULT_MESSAGE
    thresholds: list[tuple[str, str]] = field(default_factory=list)  # (currency, amount typed)

    @classmethod
    def blank(cls, currency: str) -> CampaignForm:
        return cls(thresholds=[(currency, "0")])

    @classmethod
    def of(cls, campaign: DunningCampaign) -> CampaignForm:
        return cls(name=campaign.name, code=campaign.code, description=campaign.description or "",
                   max_attempts=str(campaign.max_attempts), days_between_attempts=str(campaign.days_between_attempts),
                   bcc_emails=", ".join(campaign.bcc_emails or []),
                   applied_to_organization=bool(campaign.applied_to_organization),
                   reminder_subject=campaign.reminder_subject, reminder_message=campaign.reminder_message,
                   thresholds=[(t.currency, str(to_major(t.amount_cents, t.currency))) for t in campaign.thresholds])

    @classmethod
    def read(cls, form: MultiDict) -> CampaignForm:
        def text(name: str, limit: int = 6000) -> str:
            return (form.get(name) or "")[:limit]

        currencies = form.getlist("threshold_currency")
        amounts = form.getlist("threshold_amount")
        rows = [((c or "").strip().upper()[:8], (a or "").strip()[:32])
                for c, a in zip(currencies, amounts, strict=False)]
        return cls(name=text("name").strip(), code=text("code").strip(), description=text("description").strip(),
                   max_attempts=text("max_attempts", 16).strip(),
                   days_between_attempts=text("days_between_attempts", 16).strip(),
                   bcc_emails=text("bcc_emails", 2000),
                   applied_to_organization=form.get("applied_to_organization") == "y",
                   reminder_subject=text("reminder_subject").strip(),
                   reminder_message=text("reminder_message").replace("\r\n", "\n").strip(), thresholds=rows[:50])

    def rows(self) -> list[tuple[int, str, str]]:
        """The threshold rows to show: the typed ones and EXTRA_ROWS empty ones, with their index."""
        filled = [(c, a) for c, a in self.thresholds if c or a]
        return [(i, c, a) for i, (c, a) in enumerate(filled + [("", "")] * EXTRA_ROWS)]

    def service_data(self) -> tuple[dict[str, object], dict[str, list[str]]]:
        """The form as the service's data, and the reasons found here first (an amount that is not one)."""
        errors: dict[str, list[str]] = {}
        thresholds = []
        for index, (currency, amount) in enumerate((c, a) for c, a in self.thresholds if c or a):
            cents, problem = to_minor_exactly(amount, currency)
            if problem is not None or cents is None:
                errors[f"thresholds.{index}.amount"] = [words.dunning_reason("amount", problem or "value_is_mandatory")]
                cents = 0  # still sent, so that the service reports the currency and every other field
            thresholds.append({"currency": currency or None, "amount_cents": cents})
        data: dict[str, object] = {
            "name": self.name, "code": self.code, "description": self.description or None,
            "max_attempts": self.max_attempts, "days_between_attempts": self.days_between_attempts,
            "thresholds": thresholds, "bcc_emails": [e for e in _SEPARATORS.split(self.bcc_emails) if e],
            "applied_to_organization": self.applied_to_organization,
            "reminder_subject": self.reminder_subject, "reminder_message": self.reminder_message,
        }
        return data, errors
