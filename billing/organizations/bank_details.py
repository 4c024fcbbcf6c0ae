"""The bank details an organization prints on its invoices (account holder, IBAN, BIC, bank, instructions):
checked by their published rules, stored on the organization, read by the invoice PDF."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from billing.audit.services import record
from billing.db import read_only, unit_of_work
from billing.errors import ValidationFailed
from billing.organizations.models import Organization
from billing.organizations.services import get_organization

# NOTE: the length of each country's IBAN, from SWIFT's IBAN Registry (ISO 13616), release 99 (2025).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}
# NOTE: ISO 9362: 4 letters (bank), 2 letters (country), 2 letters or digits (location), optionally 3 (branch).
BIC_SHAPE = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
LIMITS = {"account_holder": 255, "bank_name": 255, "payment_instructions": 1000}
FIELDS = ("account_holder", "iban", "bic", "bank_name", "payment_instructions")


@dataclass(frozen=True)
class BankDetails:
    account_holder: str | None
    iban: str | None
    bic: str | None
    bank_name: str | None
    payment_instructions: str | None

    @property
    def any(self) -> bool:
        return any((self.account_holder, self.iban, self.bic, self.bank_name, self.payment_instructions))

    @property
    def iban_grouped(self) -> str:
        """The IBAN in its printed form, groups of four ("DE89 3704 0044 …")."""
        iban = self.iban or ""
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def compact_iban(text: str) -> str:
    return re.sub(r"[\s-]", "", text or "").upper()


def iban_problem(iban: str) -> str | None:
    """Why a compact IBAN is not one (a reason code), or None: country, length for that country, mod-97 check."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        return "invalid_format"
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        return "unknown_country"
    if len(iban) != expected:
        return "wrong_length"
    digits = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return None if int(digits) % 97 == 1 else "invalid_checksum"


def bank_details_of(organization: Organization) -> BankDetails:
    return BankDetails(account_holder=organization.bank_account_holder, iban=organization.bank_iban,
                       bic=organization.bank_bic, bank_name=organization.bank_name,
                       payment_instructions=organization.payment_instructions)


def read_bank_details(*, organization_id: str) -> BankDetails:
    with read_only() as session:
        return bank_details_of(get_organization(session, organization_id))


def _checked(data: Mapping[str, str | None]) -> dict[str, str | None]:
    """The values to store (blank ones as None), or ValidationFailed with every field's reason at once."""
    values = {name: (str(data.get(name) or "")).strip() or None for name in FIELDS}
    errors: dict[str, list[str]] = {}
    for name, limit in LIMITS.items():
        if values[name] and len(values[name]) > limit:
            errors[name] = ["value_is_too_long"]
    if values["iban"]:
        values["iban"] = compact_iban(values["iban"])
        problem = iban_problem(values["iban"])
        if problem:
            errors["iban"] = [problem]
    if values["bic"]:
        values["bic"] = values["bic"].replace(" ", "").upper()
        if not BIC_SHAPE.fullmatch(values["bic"]):
            errors["bic"] = ["invalid_format"]
    if values["iban"] and not values["account_holder"]:
        errors["account_holder"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    return values


def update_bank_details(*, organization_id: str, data: Mapping[str, str | None]) -> BankDetails:
    """Check and store the organization's bank details (all fields at once; blank clears one), audited."""
    values = _checked(data)
    with unit_of_work() as uow:
        organization = get_organization(uow.session, organization_id)
        before = bank_details_of(organization)
        organization.bank_account_holder = values["account_holder"]
        organization.bank_iban = values["iban"]
        organization.bank_bic = values["bic"]
        organization.bank_name = values["bank_name"]
        organization.payment_instructions = values["payment_instructions"]
        after = bank_details_of(organization)
        record(uow.session, organization_id=organization_id, action="organization.bank_details_updated",
               object_type="organization", object_id=organization_id, object_label=organization.name,
               before=asdict(before), after=asdict(after))
        return after
