"""Domestic SMS templates: read a "CODE:var1,var2" layout and pour a text into its variables at clause ends."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A variable may end after a sentence end, a clause mark or a space; never inside a run of text.
SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")
BOUNDARY = re.compile(r"(?<=[。！？；!?;\n，、,：:）)」 ])")
LAYOUT = re.compile(r"^([A-Za-z0-9_]{1,32}):([A-Za-z_]\w{0,19}(?:,[A-Za-z_]\w{0,19})*)$")
URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org)\b", re.IGNORECASE)
# 【】 mark the signature on Chinese SMS: carriers refuse them inside variables, so headings keep 「」.
BRACKETS = str.maketrans({"【": "「", "】": "」"})
FILLER = " "  # a variable the text does not need still must have a value (1–35 characters)


class TemplateError(ValueError):
    """The text cannot be sent with this template; str() says why, in words an officer can act on."""


@dataclass(frozen=True)
class Template:
    code: str
    variables: tuple[str, ...]

    @classmethod
    def parse(cls, layout: str) -> Template:
        """'SMS_123456789:p1,p2,p3' -> the template code and its variables, in reading order."""
        found = LAYOUT.match(layout.replace(" ", ""))
        if not found:
            raise ValueError(f"expected CODE:var1,var2,… (e.g. SMS_123456789:p1,p2,p3), got {layout!r}")
        names = tuple(found.group(2).split(","))
        if len(set(names)) != len(names):
            raise ValueError(f"a variable appears twice in {layout!r}")
        return cls(found.group(1), names)

    def fill(self, text: str, max_chars: int) -> dict[str, str]:
        """The template parameters carrying `text`, each at most `max_chars` characters and cut only
        at a sentence end, a clause mark or a space. Raises TemplateError when it cannot fit."""
        if URL.search(text):
            raise TemplateError("links are not allowed inside SMS template variables; remove the link")
        parts = split(text.translate(BRACKETS), max_chars)
        if not parts:
            raise TemplateError("empty text: nothing to send")
        if len(parts) > len(self.variables):
            raise TemplateError(
                f"text too long for template {self.code}: it needs {len(parts)} variables of at most "
                f"{max_chars} characters, the template has {len(self.variables)}; shorten it")
        parts += [FILLER] * (len(self.variables) - len(parts))
        return dict(zip(self.variables, parts, strict=True))


def split(text: str, max_chars: int) -> list[str]:
    """Greedy: each piece as long as possible, ending at the last sentence end within the limit (if
    it keeps at least a third of the limit), else at the last clause mark or space."""
    pieces: list[str] = []
    rest = re.sub(r"[ \t\r]+", " ", re.sub(r"\s*\n\s*", "\n", text)).strip()
    while rest:
        if len(rest) <= max_chars:
            pieces.append(rest.replace("\n", " "))
            break
        cut = _cut(rest, max_chars)
        if cut is None:
            run = rest[: max_chars + 1]
            raise TemplateError(
                f"no sentence or clause end within {max_chars} characters in “{run[:12]}…”: add a comma "
                "or a full stop (a variable is never cut mid-word)")
        head, rest = rest[:cut].replace("\n", " ").strip(), rest[cut:].strip()
        if head:
            pieces.append(head)
    return pieces


def _cut(text: str, limit: int) -> int | None:
    sentences = [m.start() for m in SENTENCE_END.finditer(text) if 0 < m.start() <= limit]
    if sentences and sentences[-1] >= limit // 3:
        return sentences[-1]
    clauses = [m.start() for m in BOUNDARY.finditer(text) if 0 < m.start() <= limit]
    return clauses[-1] if clauses else None
