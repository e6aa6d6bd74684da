"""Amounts: 1 SMH = 10^9 smidge; users write either `1.5smh` or a plain smidge integer."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from core.errors import InvalidInput

SMIDGE_PER_SMH = 10**9
_AMOUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?|\.[0-9]+)\s*(smh|smidge)?\s*$", re.IGNORECASE)


def parse_amount(text: str) -> int:
    """Smidge in `text`: '1.5smh', '2 SMH', '100', '100smidge'; fractions of a smidge are errors."""
    m = _AMOUNT.match(text)
    if not m:
        raise InvalidInput(f"invalid amount {text!r}: use e.g. '1.5smh' or a whole number of smidge")
    number, unit = m.group(1).replace("_", ""), (m.group(2) or "smidge").lower()
    try:
        value = Decimal(number) * (SMIDGE_PER_SMH if unit == "smh" else 1)
    except InvalidOperation:
        raise InvalidInput(f"invalid amount {text!r}") from None
    if value != value.to_integral_value():
        raise InvalidInput(f"invalid amount {text!r}: smallest unit is 1 smidge (10^-9 SMH)")
    smidge = int(value)
    if smidge >> 64:
        raise InvalidInput(f"amount {text!r} exceeds the 64-bit maximum")
    return smidge


def format_smh(smidge: int) -> str:
    """'SMH 1.5'-style text with nine decimals at most and trailing zeros trimmed ('1.0 SMH')."""
    whole, frac = divmod(smidge, SMIDGE_PER_SMH)
    decimals = f"{frac:09d}".rstrip("0") or "0"
    return f"{whole}.{decimals} SMH"
