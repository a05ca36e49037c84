"""Standard crop and term names, and the dialect words that map to them (content/dict/vocab.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VOCAB_FILE = Path(__file__).parent / "dict" / "vocab.toml"


@dataclass(frozen=True)
class Vocabulary:
    crops: tuple[str, ...]  # standard crop and livestock names
    aliases: dict[str, str]  # any alias -> standard name

    def canonical(self, word: str) -> str:
        return self.aliases.get(word, word)

    def crop(self, word: str) -> str | None:
        """The standard crop name for a word, or None when it names no crop we know."""
        name = self.canonical(word)
        return name if name in self.crops else None


@cache
def vocabulary(path: Path = VOCAB_FILE) -> Vocabulary:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for table in ("crops", "terms", "phrases"):
        for standard, words in data.get(table, {}).items():
            for word in words:
                aliases[word] = standard
    return Vocabulary(crops=tuple(data.get("crops", {})), aliases=aliases)
