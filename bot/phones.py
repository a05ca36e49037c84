"""Phone numbers: normalise to E.164 (Chinese mobiles by default) and mask for logs."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

DEFAULT_REGION = "CN"
# "+<digits, spaces>" (international) or a bare Chinese mobile "1[3-9]xxxxxxxxx".
_LOOKS_LIKE_PHONE = re.compile(r"(?<![\w+])(\+\d[\d ]{6,17}\d|(?:0086|86)?1[3-9]\d{9})(?!\d)")


def normalise_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """'138 0013 8000', '+86-138-0013-8000', '008613800138000' -> '+8613800138000'; None if not a phone."""
    if not text or len(text) > 32:
        return None
    cleaned = unicodedata.normalize("NFKC", text).strip()
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """'+8613800138000' -> '+86138****8000': enough to tell people apart, not to call them."""
    digits = re.sub(r"\D", "", e164)
    if len(digits) < 8:
        return "****"
    plus = "+" if e164.startswith("+") else ""
    keep_head = 5 if digits.startswith("86") else 3
    return f"{plus}{digits[:keep_head]}{'*' * (len(digits) - keep_head - 4)}{digits[-4:]}"


def mask_phones_in(text: str) -> str:
    """Mask every phone-looking run of digits inside free text (log lines, errors)."""
    return _LOOKS_LIKE_PHONE.sub(lambda m: mask_phone(m.group(1)), text)
