"""SMS text rules shared by every SMS provider: encodings, segment counts, and cutting at clause ends."""

from __future__ import annotations

from content.render import cut_at_clause

__all__ = ["cut_at_clause", "is_gsm7", "length_units", "segments", "ucs2_capacity"]

# GSM 03.38 basic set (one septet each) and the extension table (two septets each).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")
MAX_CHARS = 1600  # providers refuse longer bodies


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def length_units(text: str) -> tuple[int, int, int]:
    """(units used, units in one segment, units per segment when concatenated)."""
    if is_gsm7(text):
        return sum(2 if ch in GSM_EXTENDED else 1 for ch in text), 160, 153
    # UCS-2: characters outside the BMP (emoji) take two code units.
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text), 70, 67


def segments(text: str) -> int:
    used, single, multi = length_units(text)
    if used <= single:
        return 1 if used else 0
    return -(-used // multi)


def ucs2_capacity(max_segments: int) -> int:
    """Characters of Chinese text that fit in `max_segments` segments."""
    return 70 if max_segments == 1 else 67 * max_segments
