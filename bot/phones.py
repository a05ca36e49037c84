"""Phone numbers: normalise to E.164 (Chinese mobiles by default) and mask for logs."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

import phonenumbers

DEFAULT_REGION = "CN"


def _written(*chars: str) -> str:
    """A regex for one of `chars` as it may stand in a log line: as typed (ASCII or full-width) or
    percent-encoded in UTF-8, once or more (`%2B`, `%252B` inside a `next=` link, `%EF%BC%8B`)."""
    pct = r"%(?:25)*"
    forms = []
    for ch in chars:
        forms.append(re.escape(ch))
        forms.extend(pct + pct.join(f"{b:02X}" for b in c.encode()) for c in {ch, unicodedata.normalize("NFKC", ch)})
    return "(?:" + "|".join(sorted(set(forms), key=len, reverse=True)) + ")"


_FULL = {d: chr(0xFF10 + int(d)) for d in "0123456789"}
_D = rf"(?:\d|{_written(*_FULL.values())})"  # \d: ASCII, full-width and other scripts' digits


def _digit(*ds: str) -> str:
    return _written(*ds, *(_FULL[d] for d in ds))


# One separator between digits: a space, + or - as typed, full-width or URL-encoded ("138+0013+8001"
# in a query string, "138%200013%208001", "138－0013－8001").
_SEP = _written(" ", "\t", "\u00a0", "\u3000", "+", "-", "\uff0b", "\uff0d", "\u2010", "\u2012", "\u2013", "\u2014")
_PLUS = _written("+", "\uff0b")
_CN_MOBILE = (rf"(?:(?:{_PLUS}|{_digit('0')}{_digit('0')}){_SEP}?{_digit('8')}{_SEP}?{_digit('6')}{_SEP}?"
              rf"|{_digit('8')}{_digit('6')}{_SEP}?)?"
              rf"{_digit('1')}{_SEP}?{_digit(*'3456789')}(?:{_SEP}?{_D}){{9}}")
_INTERNATIONAL = rf"{_PLUS}{_SEP}?{_D}(?:{_SEP}?{_D}){{6,14}}"
# Not inside a word or a longer number (a percent-encoded byte before it is fine: "%E6%9C%BA138…").
_LOOKS_LIKE_PHONE = re.compile(
    rf"(?:(?<![0-9A-Za-z])(?<!\d)|(?<=%[0-9A-Fa-f]{{2}}))({_CN_MOBILE}|{_INTERNATIONAL})(?!{_D})",
    re.IGNORECASE,
)


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
    """Mask every phone-looking run of digits inside free text (log lines, errors): plain, spaced
    (138 0013 8000, 138+0013+8000, 138-0013-8000), full-width and URL-encoded (%2B8613800138000)."""
    return _LOOKS_LIKE_PHONE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    written = unicodedata.normalize("NFKC", unquote(unquote(unquote(match.group(1)))))
    digits = "".join(str(unicodedata.decimal(c)) for c in written if c.isdecimal())
    if written.startswith("+"):
        return mask_phone("+" + digits)
    if digits.startswith("0086"):
        return mask_phone("+" + digits[2:])
    return mask_phone(digits)
