"""A villager's text -> what they sell or want: side, commodity, quantity in the commodity's unit, price
per unit, grade and when. Words come from content/dict/trade.toml and commodities.toml (data officers
can read); nothing here touches the database."""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DICT = Path(__file__).resolve().parents[2] / "content" / "dict"
MAX_PRICE = 100000.0  # 元 per unit: more is a typo
MAX_QUANTITY = 10_000_000.0
DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
          "九": 9}
SMALL = {"十": 10, "百": 100, "千": 1000}
NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两俩三四五六七八九十百千]+)(?:[千万])?"


@dataclass(frozen=True)
class Goods:
    name: str  # the standard name
    unit: str  # 斤 for everything priced per 斤, else 头 只 袋 …


@dataclass(frozen=True)
class Words:
    seek_buyer: tuple[str, ...]
    sell_starts: tuple[str, ...]
    buy_starts: tuple[str, ...]
    sell_cues: tuple[str, ...]
    buy_cues: tuple[str, ...]
    weights: dict[str, float]
    counts: tuple[str, ...]
    vague: tuple[str, ...]
    grades: tuple[str, ...]
    available: tuple[str, ...]
    names: dict[str, Goods]  # every name and other name -> the goods


@functools.cache
def words() -> Words:
    trade: dict[str, Any] = tomllib.loads((DICT / "trade.toml").read_text(encoding="utf-8"))
    priced: dict[str, Any] = tomllib.loads((DICT / "commodities.toml").read_text(encoding="utf-8"))["commodities"]
    names: dict[str, Goods] = {}
    for name, spec in trade["goods"].items():
        goods = Goods(name, spec["unit"])
        for alias in spec["aliases"]:
            names.setdefault(alias, goods)
        names[name] = goods
    for name, spec in priced.items():
        goods = Goods(name, spec["unit"].removeprefix("元/"))
        for alias in spec["aliases"]:
            names.setdefault(alias, goods)
        names[name] = goods
    sides, units, said = trade["sides"], trade["units"], trade["words"]
    return Words(
        seek_buyer=tuple(sides["seek_buyer"]), sell_starts=tuple(sides["sell_starts"]),
        buy_starts=tuple(sides["buy_starts"]), sell_cues=tuple(sides["sell_cues"]), buy_cues=tuple(sides["buy_cues"]),
        weights={k: float(v) for k, v in units["weights"].items()}, counts=tuple(units["counts"]),
        vague=tuple(said["vague"]), grades=tuple(said["grades"]), available=tuple(said["available"]), names=names,
    )


def goods_named(name: str) -> Goods | None:
    return words().names.get(name)


def find_goods(text: str) -> Goods | None:
    """The goods a text names: the longest name or other name in it (脱毒洋芋种 before 洋芋)."""
    table = words().names
    for name in sorted(table, key=len, reverse=True):
        if name in text:
            return table[name]
    return None


def cn_number(text: str) -> float | None:
    """'2000' / '2.5' / '两千' / '两千五' / '1.5万' / '三百五十' / '十' -> the number; None if it is none."""
    if not text:
        return None
    wan = 1.0
    if text.endswith("万"):
        text, wan = text[:-1], 10000.0
    elif text.endswith("千") and re.fullmatch(r"\d+(?:\.\d+)?千", text):
        text, wan = text[:-1], 1000.0
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) * wan
    total, digit, last_unit, zero = 0, -1, 0, False
    for ch in text:
        if ch in ("零", "〇") and total:
            zero = True
        elif ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in SMALL:
            total += (1 if digit < 0 else digit) * SMALL[ch]
            digit, last_unit = -1, SMALL[ch]
        else:
            return None
    if digit >= 0:  # 两千五 = 2500, 三百五 = 350, 二十三 = 23, 一百零五 = 105
        total += digit * (last_unit // 10 if last_unit >= 100 and not zero else 1)
    return float(total) * wan if text else None


@dataclass(frozen=True)
class Draft:
    """What was understood of a listing; None where nothing was said."""

    side: str | None = None  # sell | buy
    commodity: str | None = None
    unit: str | None = None  # of the quantity: the commodity's, or the count said (10箱) when it cannot be converted
    quantity: float | None = None
    price: float | None = None  # 元 per price_unit
    price_unit: str | None = None
    grade: str = ""
    available: str = ""
    vague: bool = False  # said "很多" instead of a number
    bad_quantity: str = ""  # a quantity we cannot use, in the villager's words
    bad_price: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", False)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def normal(text: str) -> str:
    """NFKC, lower case, punctuation as one space; keeps the decimal point and the slash of '2.5元/斤'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s,，。！!？?、;；:：]+", " ", folded).strip()


def side_of(text: str) -> str | None:
    w = words()
    if any(cue in text for cue in w.seek_buyer):
        return "sell"
    if text.startswith(w.sell_starts):
        return "sell"
    if text.startswith(w.buy_starts):
        return "buy"
    if any(cue in text for cue in w.buy_cues if cue != "买"):
        return "buy"
    if any(cue in text for cue in w.sell_cues if cue != "卖"):
        return "sell"
    if "卖" in text:
        return "sell"
    if "买" in text:
        return "buy"
    return None


def _unit_pattern() -> str:
    w = words()
    return "|".join(map(re.escape, sorted([*w.weights, *w.counts], key=len, reverse=True)))


def _in_unit(value: float, said: str, goods_unit: str) -> tuple[float, str]:
    """A weight in the goods' weight unit (1吨 -> 2000斤); counts (头, 箱) stay as said."""
    weights = words().weights
    if said in weights and goods_unit in weights:
        return value * weights[said] / weights[goods_unit], goods_unit
    return value, said


def _price(text: str, goods: Goods | None, default_unit: str) -> tuple[float | None, str | None, str, str]:
    """(price, its unit, the text without it, the price as written when it cannot be used). A price per a
    weight is per the goods' weight unit (5元一公斤 -> 2.5元/斤); without a unit it is per `default_unit`."""
    units = _unit_pattern()
    pattern = re.compile(
        rf"(?:(?:每|一)(?P<before>{units}))?(?:价格?|价钱|要价|出价)?(?P<num>{NUM})(?:块|元)"
        rf"(?:(?P<jiao>[1-9一二三四五六七八九])(?:毛|角)?(?![\d.]|{units}))?(?:钱)?(?:(?:/|每|一|1)(?P<after>{units}))?")
    match = pattern.search(text)
    if match is None:
        return None, None, text, ""
    rest = text[:match.start()] + " " + text[match.end():]
    value = cn_number(match.group("num"))
    jiao = match.group("jiao")
    if value is not None and jiao:
        value += (int(jiao) if jiao.isdigit() else DIGITS[jiao]) / 10
    said = match.group("after") or match.group("before") or default_unit
    if value is None:
        return None, None, rest, match.group(0)
    weights = words().weights
    unit = said
    if said in weights and goods is not None and goods.unit in weights:
        value, unit = value / weights[said] * weights[goods.unit], goods.unit
    value = round(value, 2)
    if not 0 < value <= MAX_PRICE:
        return None, None, rest, match.group(0)
    return value, unit, rest, ""


def _quantity(text: str, goods: Goods | None) -> tuple[float | None, str | None, str]:
    """(quantity, its unit, the quantity as written when it cannot be used)."""
    units = _unit_pattern()
    match = re.search(rf"(?P<num>{NUM})(?:多|来|余|左右)?(?P<unit>{units})", text)
    if match is None:
        return None, None, ""
    value = cn_number(match.group("num"))
    if value is None or value <= 0:
        return None, None, match.group(0)
    value, unit = _in_unit(value, match.group("unit"), goods.unit if goods else "斤")
    if value > MAX_QUANTITY:
        return None, None, match.group(0)
    return round(value, 2), unit, ""


def parse(text: str) -> Draft:
    """'卖 柑橘 2000斤 2.5元' / '我有两千多斤橘子要卖' / '想买点脱毒洋芋种' -> a Draft."""
    w = words()
    form = normal(text)
    goods = find_goods(form)
    quantity, unit, bad_quantity = _quantity(form, goods)
    price, price_unit, rest, bad_price = _price(form, goods, unit or (goods.unit if goods else "斤"))
    if quantity is not None:  # the number of the price ("2000斤2.5元") was not the quantity
        quantity, unit, bad_quantity = _quantity(rest, goods)
    vague = quantity is None and not bad_quantity and any(v in form for v in w.vague if v != "点")
    return Draft(
        side=side_of(form), commodity=goods.name if goods else None, unit=unit or (goods.unit if goods else None),
        quantity=quantity, price=price, price_unit=price_unit, vague=vague, bad_quantity=bad_quantity,
        bad_price=bad_price,
        grade=next((g for g in w.grades if g in form), ""),
        available=next((a for a in w.available if a in form), ""),
    )


def quantity_answer(text: str, draft: Draft) -> tuple[float | None, str | None, str]:
    """An answer to "多少斤？": '2000' (in the goods' unit), '2000斤', '1吨' -> (quantity, bad words)."""
    form = normal(text)
    goods = goods_named(draft.commodity or "") or Goods(draft.commodity or "", draft.unit or "斤")
    if (bare := cn_number(form.removesuffix("左右").rstrip("多来余"))) is not None:
        return (round(bare, 2), goods.unit, "") if 0 < bare <= MAX_QUANTITY else (None, None, form)
    quantity, unit, bad = _quantity(form, goods)
    return quantity, unit, bad or ("" if quantity is not None else form)


def price_answer(text: str, draft: Draft) -> float | None:
    """An answer to a price question: '2.5' / '2块5' / '5元一公斤' -> 元 per the draft's unit."""
    form = normal(text)
    bare = cn_number(form.removesuffix("元").removesuffix("块"))
    if bare is not None:
        return bare if 0 < bare <= MAX_PRICE else None
    goods = goods_named(draft.commodity or "") or Goods(draft.commodity or "", draft.unit or "斤")
    price, _, _, _ = _price(form, goods, draft.unit or goods.unit)
    return price


def merge(old: Draft, new: Draft) -> Draft:
    """A later text fills in what the first left out (a new commodity starts over)."""
    if new.commodity and old.commodity and new.commodity != old.commodity:
        return new
    changes = {k: v for k, v in new.__dict__.items() if v not in (None, "", False)}
    return replace(old, **changes)


def amount(value: float) -> str:
    """2000.0 -> '2000', 2.5 -> '2.5'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
