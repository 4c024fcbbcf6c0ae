"""The shape of a tax identification number, by country, where a rule is known: pure, no database.

NOTE: the EU VAT number structures are the European Commission's (VIES, "VAT number validation": the
country prefix, then the national part; Greece's prefix is EL, Northern Ireland's XI). The United Kingdom
(HMRC: 9 or 12 digits, GD/HA and 3 digits for government bodies and health authorities), Switzerland (UID:
CHE and 9 digits, optionally followed by MWST, TVA, IVA or TPF) and Norway (organisasjonsnummer: 9 digits,
optionally followed by MVA) are checked too. Only the shape is checked (letters, digits, length), never the
check digit nor that the number is registered: a customer typing their own number gets told about a typo,
nothing more. A country without a rule accepts any number.
"""

from __future__ import annotations

import re

# prefix -> the national part's pattern (after the prefix, separators removed, upper-cased)
_RULES: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d[A-Z0-9+*]\d{5}[A-Z]|\d{7}[A-W][AH]?",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "CHE": r"\d{9}(?:MWST|TVA|IVA|TPF)?",
    "NO": r"\d{9}(?:MVA)?",
}
_PATTERNS = {prefix: re.compile(f"(?:{pattern})") for prefix, pattern in _RULES.items()}
# The prefix a country's numbers carry (most are the ISO country code itself).
_COUNTRY_PREFIX = {"GR": "EL", "CH": "CHE"}
_SEPARATORS = re.compile(r"[\s.\-/]+")


def has_rule(country: str | None) -> bool:
    """Whether numbers of this ISO 3166 country are held to a known shape."""
    return bool(country) and _prefix_of(country) in _PATTERNS


def _prefix_of(country: str) -> str:
    country = country.upper()
    return _COUNTRY_PREFIX.get(country, country)


def normalized(number: str) -> str:
    """The number as registries write it: upper-case, without spaces, dots, dashes or slashes."""
    return _SEPARATORS.sub("", number).upper()


def _matches(prefix: str, number: str, *, prefix_optional: bool) -> bool:
    pattern = _PATTERNS[prefix]
    if number.startswith(prefix) and pattern.fullmatch(number[len(prefix):]):
        return True
    return prefix_optional and bool(pattern.fullmatch(number))


def is_valid(number: str, country: str | None) -> bool:
    """Whether `number` has the shape of a tax id of `country` (its prefix may be left out), or of the country
    its own prefix names (a company may be registered for VAT in another country than its address)."""
    number = normalized(number)
    if not number:
        return False
    if has_rule(country) and _matches(_prefix_of(country or ""), number, prefix_optional=True):
        return True
    named = next((prefix for prefix in sorted(_PATTERNS, key=len, reverse=True) if number.startswith(prefix)), None)
    if named is not None:
        return _matches(named, number, prefix_optional=False)
    return not has_rule(country)
