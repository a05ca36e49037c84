"""Standard crop and term names, and the dialect words that map to them (content/dict/vocab.toml)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VOCAB_FILE = Path(__file__).parent / "dict" / "vocab.toml"
# A count cut together with what is counted: 几只羊, 两头猪, 三十只鸡 (jieba keeps some whole).
COUNTED = re.compile(r"[0-9一二两三四五六七八九十百千几多]+[只头条匹窝箱棵株群个]")


@dataclass(frozen=True)
class Vocabulary:
    crops: tuple[str, ...]  # standard crop and livestock names
    aliases: dict[str, str]  # any alias -> standard name
    not_crops: frozenset[str] = frozenset()  # words that start with a crop's name but name none (蚕豆, 鸭梨)
    starts: dict[str, str] = dataclasses.field(default_factory=dict)  # 麦 -> 小麦: only as a word's start
    groups: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # 蔬菜 -> 辣椒, 白菜 …
    group_words: dict[str, str] = dataclasses.field(default_factory=dict)  # 青菜 -> 蔬菜
    _said_as: dict[str, tuple[str, ...]] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        said: dict[str, list[str]] = {}
        for alias, standard in self.aliases.items():
            said.setdefault(standard, []).append(alias)
        object.__setattr__(self, "_said_as", {standard: tuple(forms) for standard, forms in said.items()})

    def canonical(self, word: str) -> str:
        return self.aliases.get(word, word)

    def forms(self, standard: str) -> tuple[str, ...]:
        """The standard word and every alias of it, as a villager may write it (晚疫病, 晚疫)."""
        return (standard, *self._said_as.get(standard, ()))

    def crop_names(self) -> frozenset[str]:
        """Every crop's standard name and every local name for it (玉米, 苞谷, 包谷 …)."""
        return frozenset(form for crop in self.crops for form in self.forms(crop))

    def crop(self, word: str) -> str | None:
        """The standard crop name for a word, or None when it names no crop we know."""
        name = self.canonical(word)
        return name if name in self.crops else None

    def crops_within(self, word: str) -> tuple[str, ...]:
        """The crops a word names or is made from (crop_within), a kind of crop standing for all its
        members (菜苗, 青菜: every vegetable)."""
        name = self.group_words.get(word) or self.crop_within(word)
        if name is None:
            return ()
        return self.groups.get(name, (name,))

    def crop_within(self, word: str) -> str | None:
        """The crop a word names or is made from: 麦穗 and 猪圈 start with one (any crop name or alias),
        春茶园 ends with one (two characters at least, so 荞麦 is not wheat); listed exceptions name none."""
        if (crop := self.crop(word)) is not None or word in self.not_crops or len(word) < 2:
            return crop
        if (counted := COUNTED.match(word)) is not None and (crop := self.crop(word[counted.end():])) is not None:
            return crop
        for size in range(len(word) - 1, 0, -1):
            if (crop := self.crop(word[:size]) or self.starts.get(word[:size])) is not None:
                return crop
        for size in range(len(word) - 1, 1, -1):
            if (crop := self.crop(word[-size:])) is not None:
                return crop
        return None


@cache
def vocabulary(path: Path = VOCAB_FILE) -> Vocabulary:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for table in ("crops", "terms", "phrases"):
        for standard, words in data.get(table, {}).items():
            for word in words:
                aliases[word] = standard
    return Vocabulary(crops=tuple(data.get("crops", {})), aliases=aliases,
                      not_crops=frozenset(data.get("not_crops", {}).get("words", ())),
                      starts={start: crop for crop, starts in data.get("crop_starts", {}).items() for start in starts},
                      groups={g: tuple(v["crops"]) for g, v in data.get("crop_groups", {}).items()},
                      group_words={w: g for g, v in data.get("crop_groups", {}).items() for w in v["words"]})
