"""The county's townships with their coordinates, and the rules kept as data (content/weather/):
the farming hint after a forecast and the advice that goes with a warning."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import content

DATA = Path(content.__file__).parent / "weather"


@dataclass(frozen=True)
class Township:
    name: str
    lat: float
    lon: float
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hint:
    name: str
    sms: str
    wechat: str
    words: tuple[str, ...] = ()
    min_at_most: float | None = None
    max_at_least: float | None = None
    wind_at_least: int | None = None
    precip_at_least: float | None = None


@dataclass(frozen=True)
class WarningRule:
    event: str
    match: tuple[str, ...]
    advice: str
    article: str = ""
    crops: tuple[tuple[str, str], ...] = ()  # (crop, article ref), in the file's order


def _read(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


_FILE = {"path": ""}  # weather.townships, set by setup(app): placeholders are filled without an app


def configure(path: str) -> None:
    _FILE["path"] = path


def townships(path: str = "") -> tuple[Township, ...]:
    return _townships(path or _FILE["path"])


@functools.cache
def _townships(path: str) -> tuple[Township, ...]:
    data = _read(Path(path) if path else DATA / "townships.toml")
    return tuple(Township(name=t["name"], lat=float(t["lat"]), lon=float(t["lon"]),
                          aliases=tuple(t.get("aliases", ()))) for t in data.get("township", []))


def find(name: str, path: str = "") -> Township | None:
    """关防乡 / 关防 / 湖北口 -> the township; the longest name found inside the text wins, so
    "我在关防乡东川村" finds 关防乡."""
    text = name.strip()
    if not text:
        return None
    best: tuple[int, Township] | None = None
    for town in townships(path):
        for word in (town.name, *town.aliases):
            if word and word in text and (best is None or len(word) > best[0]):
                best = (len(word), town)
    return best[1] if best else None


@functools.cache
def hints() -> tuple[Hint, ...]:
    return tuple(Hint(name=h["name"], sms=h["sms"], wechat=h.get("wechat") or h["sms"], words=tuple(h.get("words", ())),
                      min_at_most=h.get("min_at_most"), max_at_least=h.get("max_at_least"),
                      wind_at_least=h.get("wind_at_least"), precip_at_least=h.get("precip_at_least"))
                 for h in _read(DATA / "hints.toml").get("hint", []))


@functools.cache
def warning_rules() -> tuple[WarningRule, ...]:
    return tuple(WarningRule(event=w["event"], match=tuple(w.get("match", (w["event"],))), advice=w.get("advice", ""),
                             article=w.get("article", ""), crops=tuple((w.get("crops") or {}).items()))
                 for w in _read(DATA / "warnings.toml").get("warning", []))


def rule_for(event: str) -> WarningRule | None:
    """The rule whose words appear in the warning's event name (霜冻 → 霜冻; 雷雨大风 → 大风)."""
    best: tuple[int, WarningRule] | None = None
    for rule in warning_rules():
        for word in rule.match:
            if word in event and (best is None or len(word) > best[0]):
                best = (len(word), rule)
    return best[1] if best else None
