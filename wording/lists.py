"""What the admin's lists say about their filters: each filter's label and choices, the sort options, and why a
value typed in the URL was refused (`billing.screens.listing` gives the codes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from billing.screens.listing import CHOICE, FLAG, ListQuery, ListSpec
from wording import credit_notes
from wording.i18n import DEFAULT_LOCALE, N_, gettext

FILTER_LABELS = {
    "number": N_("Number"), "customer": N_("Customer"), "search": N_("Search"), "status": N_("Status"),
    "payment_status": N_("Payment status"), "overdue": N_("Overdue only"), "issued_from": N_("Issued from"),
    "issued_to": N_("Issued to"), "currency": N_("Currency"), "with_overdue": N_("With overdue invoices"),
    "plan": N_("Plan"), "ending_soon": N_("Ending within 30 days"), "credit_status": N_("Credit"),
    "refund_status": N_("Refund"), "reason": N_("Reason"), "provider": N_("Provider"),
    "created_from": N_("Dated from"), "created_to": N_("Dated to"),
}
PLACEHOLDERS = {"number": N_("Part of a number"), "customer": N_("Name, external id or email"),
                "search": N_("Name, external id or email"), "currency": N_("e.g. EUR")}
SORT_LABELS = {
    "issuing_date": (N_("Newest first"), N_("Oldest first")), "created_at": (N_("Newest first"), N_("Oldest first")),
    "started_at": (N_("Started last first"), N_("Started first first")),
    "ending_at": (N_("Ending last first"), N_("Ending soonest first")),
    "number": (N_("Number, Z to A"), N_("Number, A to Z")), "amount": (N_("Largest amount"), N_("Smallest amount")),
    "customer": (N_("Customer, Z to A"), N_("Customer, A to Z")), "name": (N_("Name, Z to A"), N_("Name, A to Z")),
    "external_id": (N_("External id, Z to A"), N_("External id, A to Z")),
    "overdue": (N_("Most overdue invoices"), N_("Fewest overdue invoices")),
    "plan": (N_("Plan, Z to A"), N_("Plan, A to Z")), "status": (N_("Status, Z to A"), N_("Status, A to Z")),
}
REFUSALS = {"not_a_date": N_("“{value}” is not a date (YYYY-MM-DD): ignored."),
            "not_a_choice": N_("“{value}” is not one of the choices: ignored."),
            "not_a_flag": N_("“{value}” is neither on nor off: ignored."),
            "not_a_currency": N_("“{value}” is not a currency code: ignored."),
            "before_start": N_("Ends before it starts: ignored.")}
CHOICE_WORDS = {"succeeded": N_("Paid"), "requires_action": N_("Needs action"), "manual": N_("Recorded by hand"),
                "available": credit_notes.CREDIT_STATUSES["available"],
                "consumed": credit_notes.CREDIT_STATUSES["consumed"], **credit_notes.REASONS}


@dataclass(frozen=True)
class FilterField:
    """One field of a list's filter form: what it shows and holds, and why its value was refused."""

    name: str
    kind: str
    label: str
    value: str  # as typed
    options: tuple[tuple[str, str], ...] = ()  # CHOICE: (value, words), "Any" first
    placeholder: str = ""
    error: str = ""

    @property
    def checked(self) -> bool:
        return self.kind == FLAG and not self.error and bool(self.value)


def choice_words(value: str, locale: str | None = DEFAULT_LOCALE) -> str:
    words = CHOICE_WORDS.get(value)
    return gettext(words, locale) if words else value.replace("_", " ").capitalize()


def filter_fields(spec: ListSpec, query: ListQuery, *, choices: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                  locale: str | None = DEFAULT_LOCALE) -> list[FilterField]:
    """The filter form of a list as `query` left it; `choices` gives the options known only to the organization
    (its plans, its providers) as (value, words)."""
    choices = choices or {}
    fields = []
    for one in spec.filters:
        options: tuple[tuple[str, str], ...] = ()
        if one.kind == CHOICE:
            known = choices.get(one.name) or [(value, choice_words(value, locale)) for value in one.choices]
            options = (("", gettext("Any", locale)), *known)
        raw = query.typed.get(one.name, "")
        error = query.errors.get(one.name)
        fields.append(FilterField(
            name=one.name, kind=one.kind, label=gettext(FILTER_LABELS[one.name], locale), value=raw, options=options,
            placeholder=gettext(PLACEHOLDERS[one.name], locale) if one.name in PLACEHOLDERS else "",
            error=gettext(REFUSALS[error], locale).format(value=raw.strip()) if error else ""))
    return fields


def sort_options(spec: ListSpec, locale: str | None = DEFAULT_LOCALE) -> list[tuple[str, str]]:
    """The sort select's options, (value, words): each key both ways, the list's default first."""
    options = []
    for key in spec.sorts:
        descending, ascending = SORT_LABELS[key]
        options += [(f"-{key}", gettext(descending, locale)), (key, gettext(ascending, locale))]
    return sorted(options, key=lambda option: option[0] != spec.default_sort)
