"""What a villager's text asks for (price, 供求, weather, a person, thanks …), from content/dict/intents.toml."""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from content.fold import fold
from content.vocab import Vocabulary, vocabulary

INTENTS_FILE = Path(__file__).parent / "dict" / "intents.toml"
COMMODITIES_FILE = Path(__file__).parent / "dict" / "commodities.toml"
TECHNIQUE = "technique"  # nothing else matched: a farming question for the knowledge base
NAMES = ("technique", "human", "smalltalk", "noise", "price", "supply", "weather", "labour", "offdomain")


@dataclass(frozen=True)
class Intent:
    name: str
    cue: str = ""  # the word or pattern that decided it (logs, the benchmark, officers' curiosity)


@dataclass(frozen=True)
class _Rule:
    name: str
    cues: tuple[str, ...]
    strong: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    needs: tuple[str, ...]
    unless: tuple[str, ...]
    whole: bool
    filler: tuple[str, ...]
    words: tuple[str, ...] = ()  # cues and strong words, longest first: cut out before `unless` is looked for
    sure: tuple[re.Pattern[str], ...] = ()  # forms that decide the intent whatever else the text says


def form(text: str) -> str:
    """The folded text without punctuation, symbols (emoji) and spaces: what the rules look at. 冇 and 冒得
    are read as 没 and 没得 (Hubei and Sichuan), so every 没得 form also reads the dialect's."""
    kept = "".join(ch for ch in fold(text) if unicodedata.category(ch)[0] not in "PSZC")
    return kept.replace("冇", "没").replace("冒得", "没得")


def _first(text: str, words: tuple[str, ...]) -> str:
    return next((w for w in words if w in text), "")


class Classifier:
    """Load once; `classify` is pure and cheap (substring tests over a few hundred words)."""

    def __init__(self, path: Path = INTENTS_FILE, vocab: Vocabulary | None = None) -> None:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        vocab = vocab or vocabulary()
        commodities = tomllib.loads(COMMODITIES_FILE.read_text(encoding="utf-8")).get("commodities", {})
        crops = {*vocab.crop_names(), *commodities}
        crops |= {a for spec in commodities.values() for a in spec.get("aliases", [])}
        self.lists: dict[str, tuple[str, ...]] = {k: _longest_first(v) for k, v in data["lists"].items()}
        self.lists["crops"] = _longest_first(crops)
        self.rules = [self._rule(name, data["intents"][name]) for name in data["order"]]

    def _rule(self, name: str, spec: dict) -> _Rule:  # type: ignore[type-arg]
        unknown = [n for n in (*spec.get("needs", ()), *spec.get("unless", ())) if n not in self.lists]
        if name not in NAMES or unknown:
            raise ValueError(f"intents.toml: unknown intent {name!r} or word list {unknown}")
        return _Rule(
            name=name, cues=_longest_first(spec.get("cues", ())), strong=_longest_first(spec.get("strong", ())),
            patterns=tuple(re.compile(p) for p in spec.get("patterns", ())),
            needs=tuple(spec.get("needs", ())), unless=tuple(spec.get("unless", ())),
            whole=bool(spec.get("whole", False)), filler=_longest_first(spec.get("filler", ())),
            words=_longest_first((*spec.get("cues", ()), *spec.get("strong", ()))),
            sure=tuple(re.compile(p) for p in spec.get("sure", ())),
        )

    def classify(self, text: str) -> Intent:
        folded = form(text)
        if not folded:
            return Intent("noise", "")
        for rule in self.rules:
            cue = self._match(rule, folded)
            if cue:
                return Intent(rule.name, cue)
        return Intent(TECHNIQUE)

    def _match(self, rule: _Rule, text: str) -> str:
        if rule.whole:  # nothing but cues and filler; or a pattern, where no `unless` word is said anywhere
            # (not only outside the cues, as below: small talk's cues include 好, which 好久 and 好多 begin with)
            made = _made_of(text, rule.cues, rule.filler)
            if made or not rule.patterns or any(_first(text, self.lists[n]) for n in rule.unless):
                return made
            return next((p.pattern for p in rule.patterns if p.search(text)), "")
        if sure := next((p for p in rule.sure if p.search(text)), None):
            return sure.pattern
        if rule.unless and any(_first(_without(text, rule.words), self.lists[n]) for n in rule.unless):
            return ""
        if cue := _first(text, rule.strong):
            return cue
        if pattern := next((p for p in rule.patterns if p.search(text)), None):
            return pattern.pattern
        cue = _first(text, rule.cues)
        if cue and rule.needs and not any(_first(text.replace(cue, "", 1), self.lists[n]) for n in rule.needs):
            return ""
        return cue

    def strip_smalltalk(self, text: str) -> str:
        """'师傅你好 柑橘裂果咋办' -> '柑橘裂果咋办': greetings and thanks at the start or end say nothing."""
        rule = next(r for r in self.rules if r.name == "smalltalk")
        stripped = text.strip()
        changed = True
        while changed:
            changed = False
            for cue in rule.cues:
                if len(cue) > 1 and len(stripped) > len(cue):
                    for cut in (stripped.removeprefix(cue), stripped.removesuffix(cue)):
                        if cut != stripped:
                            stripped, changed = cut.strip(" ，,。.!！~"), True
                            break
        return stripped


def _without(text: str, words: tuple[str, ...]) -> str:
    """`text` with the rule's own words cut out: 「看病」 is an off-domain word even though 「病」 is a farm word,
    「血压」 is not 「压」 wages. An `unless` word counts only where it stands outside them."""
    for word in words:
        if word in text:
            text = text.replace(word, "|")
    return text


def _longest_first(words: object) -> tuple[str, ...]:
    return tuple(sorted({fold(str(w)).replace("冇", "没") for w in words if str(w)}, key=len, reverse=True))  # type: ignore[attr-defined]


def _made_of(text: str, cues: tuple[str, ...], filler: tuple[str, ...]) -> str:
    """The first cue when `text` is nothing but cues and filler words, else ''."""
    rest, first = text, ""
    while rest:
        cue = next((c for c in cues if rest.startswith(c)), "")
        if cue:
            first = first or cue
        else:
            cue = next((f for f in filler if rest.startswith(f)), "")
            if not cue:
                return ""
        rest = rest[len(cue):]
    return first


@functools.cache
def shared() -> Classifier:
    return Classifier()


@functools.lru_cache(maxsize=4096)
def classify(text: str) -> Intent:
    """The process's classifier on `text`; cached, as each router asks about the same message."""
    return shared().classify(text)
