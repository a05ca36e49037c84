"""Find pesticides and veterinary drugs an article must not recommend (content/dict/banned-pesticides.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LISTS = Path(__file__).parent / "dict" / "banned-pesticides.json"

# Which of our crops fall under the categories the regulations name.
CATEGORIES = {
    "蔬菜": {"辣椒", "白菜", "萝卜", "番茄", "黄瓜", "豇豆", "茄子", "甘蓝", "马铃薯"},
    "瓜果": {"柑橘", "猕猴桃", "核桃", "板栗"},
    "茶叶": {"茶叶"},
    "菌类": {"香菇", "木耳"},
    "中草药材": {"黄姜", "天麻", "杜仲", "金银花"},
    "水稻": {"水稻"},
    "花生": {"花生"},
}
NEVER_RECOMMEND = {"毒死蜱"}  # listed for elimination under the Stockholm Convention (2025)


@dataclass(frozen=True)
class Finding:
    name: str  # the word found in the text
    entry: str  # the list entry's standard name
    why: str  # banned | restricted on <crops> | special use only | banned for food animals


def explain(finding: Finding) -> str:
    """In Chinese, for the officer who wrote it: '「多灭灵（即甲胺磷）」国家已禁用'."""
    name = finding.name if finding.name == finding.entry else f"{finding.name}（即{finding.entry}）"
    if finding.why.startswith("restricted on "):
        where = finding.why.removeprefix("restricted on ")
        why = "是限用农药，" + ("任何作物都不能用" if where == "all crops" else f"不得用于{where}")
    else:
        why = {"banned": "国家已禁用", "special use only": "只准特定用途，不能向农户推荐",
               "banned for food animals": "食品动物禁用"}.get(finding.why, finding.why)
    return f"「{name}」{why}"


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str  # banned | restricted | special | vet | allowed
    prohibited: frozenset[str]  # crops, for restricted entries; empty means everywhere


@cache
def _table() -> tuple[re.Pattern[str], dict[str, _Entry]]:
    data = json.loads(LISTS.read_text(encoding="utf-8"))
    names: dict[str, _Entry] = {}

    def add(word: str, entry: _Entry) -> None:
        word = word.strip()
        if word and word not in names:
            names[word] = entry

    for kind, key in (("banned", "banned"), ("special", "special_use_only"), ("vet", "banned_vet")):
        for row in data[key]:
            entry = _Entry(row["name"], kind, frozenset())
            for word in [row["name"], *row.get("aliases", [])]:
                add(word, entry)
    for row in data["restricted"]:
        crops: set[str] = set()
        everywhere = False
        for category in row["prohibited_on"]:
            if category in CATEGORIES:
                crops |= CATEGORIES[category]
            else:
                everywhere = True  # "一切用途" and the like
        entry = _Entry(row["name"], "restricted", frozenset() if everywhere else frozenset(crops))
        for word in [row["name"], *row.get("aliases", [])]:
            add(word, entry)
    for name in NEVER_RECOMMEND:
        names[name] = _Entry(name, "banned", frozenset())
    for row in data["lookalikes_not_banned"]:
        # Allowed names that contain a banned one (乙酰甲胺磷 ⊃ 甲胺磷) are matched first, as themselves.
        add(row["name"], _Entry(row["name"], "allowed", frozenset()))
    parts = []
    for word in sorted(names, key=len, reverse=True):
        escaped = re.escape(word)
        # Codes such as 1605 or DDT only count as whole tokens, never inside 16050 or a dose.
        parts.append(rf"(?<![0-9A-Za-z]){escaped}(?![0-9A-Za-z])" if word.isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE), names


def find_forbidden(text: str, crops: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Every forbidden product named in `text`; restricted ones only where `crops` make them so
    (an article for no particular crop may be read by anyone, so it gets no restricted product)."""
    pattern, names = _table()
    lookup = {k.lower(): v for k, v in names.items()}
    found = []
    for match in pattern.finditer(text):
        entry = lookup[match.group(0).lower()]
        if entry.kind == "allowed":
            continue
        if entry.kind == "restricted":
            where = entry.prohibited & set(crops)
            if entry.prohibited and crops and not where:
                continue
            restricted = f"restricted on {'、'.join(sorted(where)) or 'all crops'}"
            found.append(Finding(match.group(0), entry.name, restricted))
            continue
        why = {"banned": "banned", "special": "special use only", "vet": "banned for food animals"}[entry.kind]
        found.append(Finding(match.group(0), entry.name, why))
    return found
