"""Answer-or-abstain search over the articles: rank, then decide whether the top one really answers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from tortoise import connections

from content import meaning as meanings
from content.fold import fold
from content.index import Doc, Index
from content.intents import TECHNIQUE, classify
from content.meaning import Meaning, Vector
from content.models import PUBLISHED, Article, ArticleVector
from content.tokenizer import Tokenizer

log = logging.getLogger("nongbot.search")
PARTS = frozenset(w for line in (Path(__file__).parent / "dict" / "parts.txt").read_text(encoding="utf-8")
                  .splitlines() if not line.startswith("#") for w in line.split())
CJK = re.compile(r"[\u3400-\u9fff]")
SUBJECTS: dict[str, list[str]] = tomllib.loads(
    (Path(__file__).parent / "dict" / "subjects.toml").read_text(encoding="utf-8"))["subjects"]
# Signs a villager names (空心, 发苦, 流胶 …) → what an article must mention to answer them.
_SIGNS_FILE = tomllib.loads((Path(__file__).parent / "dict" / "signs.toml").read_text(encoding="utf-8"))
SIGNS: dict[str, dict[str, list[str]]] = _SIGNS_FILE["signs"]
# Grave diseases (鸭瘟, 黄龙病 …) by the name an article's title uses → every name a villager may say.
GRAVE: dict[str, list[str]] = _SIGNS_FILE["grave"]
# 「不是蚜虫」 denies a pest or disease; 「是不是蚜虫」, 「像不像」 and 「有没得蚜虫」 ask about it.
# A sign denied a character or two on (不是烂软的 denies 软的): a sign is a description, not a name.
SIGN_DENIED = r"(?<!是)不是[^\s,，。]{{0,2}}{0}|(?<!像)不像{0}|(?<!有)(没得|莫得){0}|(?<![是有])(不|没|冇){0}"
# A sign seen to be absent (没流胶, 不是起泡那种); 「咋存才不霉」 wants it absent, it does not say it is.
SIGN_ABSENT = r"(?<!是)不是[^\s,，。]{{0,2}}{0}|(?<!像)不像{0}|(?<!有)(没得|莫得|没有|没|冇){0}"
# A name said only as what it is not (不是霜霉病, 除了红茶绿茶), or as a vaccine already given (打过新城疫苗).
DENIED = (r"(?<!是)不是{0}|(?<!像)不像{0}|(?<!有)(没得|莫得){0}|(跟|和|与){0}不一样"
          r"|(打了|打过|接种过|免疫过)的?{0}(疫苗|苗)|除了[^\s,，。]{{0,6}}{0}")
MIN_GRAVE_SIGNS = 2  # signs a text must share with a grave-disease article that it does not name

# Answer only at or above this confidence (see Searcher.confidence); chosen from the precision–coverage
# curve that benchmarks/answers.py prints for the tuning sets. The weights were fitted there too
# (`--fit`: logistic regression, right article vs anything else, on the tuning sets only — answers_tuning,
# new_topics_tuning and answers_tuning_b … _h; never a held-out set).
MIN_CONFIDENCE = 0.6
# Weights of Searcher.features, then the bias.
# Refitted at stop 36 with the three rival features on the 17,173 tuning technique texts (--fit gave a bias of
# -2.3; refitted at stop 37 on 18,426, the same weights to 0.1). The bias is the best point counting a wrong article
# as five declines: -2.9 at stop 36; -2.8 at stop 37, after its fixes, on all 90 tuning sets (against -2.9: 84
# more right, 14 more wrong; -2.7: 134 and 28; -2.6: 202 and 46; -3.1: 174 fewer right, 24 fewer wrong).
WEIGHTS = (0.8, 3.3, 0.1, -1.1, -0.2, 0.9, 0.2, 0.8, 0.6, 3.8, 1.7, -1.1, -1.6, -0.6, -2.8)
# With the meaning model (content/meaning.py): the same features, then Searcher.by_meaning's two, then the bias.
# Refitted at stop 36 on the same texts (--fit gave a bias of -2.3); the bias lowered to -3.2, where a wrong
# article counted as five declines scores better than at -2.9 (all 86 tuning sets: 168 fewer right, 40 fewer wrong).
WEIGHTS_MEANING = (0.6, 2.5, -0.0, -0.8, -0.2, 1.0, 0.3, 0.6, 0.6, 2.8, 1.6, -1.0, -1.3, -0.5, 1.6, 2.6, -3.2)
EMBED_BATCH = 8  # articles embedded per thread hop
# Siblings (see Searcher.by_meaning_first): among this many best articles, scoring at least this share of
# the first, the closest in meaning goes first when its similarity is higher by at least the margin.
SIBLINGS = 3
QUESTIONS_KEPT = 256  # question vectors kept (a villager's 更多, the console asking again)
SIBLING_SHARE = 0.6
RIVALS = 5  # the articles after the first whose about-text is weighed against it (see Searcher.features)
NAMED_WITHIN = 5  # how far down the article headed with a pest or disease named may be brought up from
SIBLING_MARGIN = 0.02
NEAR_ABOUT = 0.5  # share of the problem an article must be about to be offered as a close topic
UNKNOWN_WEIGHT = 1.5
SINGLE_CHAR = 0.5  # 喂, 包, 起: a single character says less than a word
MIN_LEAD = 0.03  # the top article must lead the next by this share of its score
# … by this much with words alone (no second opinion by meaning): chosen on the tuning sets counting a
# wrong article as five declines (0.03 → 0.1: 10 fewer right, 3 fewer wrong of 794 technique texts).
MIN_LEAD_WORDS = 0.1
# No tie when the top article's about-text holds this much more of the problem's characters and of one of its
# own phrasings than the rival's: on the tuning sets' ties the top one was then right 65 times in 68.
TIE_CHARS, TIE_PHRASE = 0.15, 0.1
# … or more of the problem's characters and more of its words: on all 86 tuning sets (stop 36) 120 more right,
# 13 more wrong.
TIE_ABOUT_CHARS, TIE_ABOUT = 0.05, 0.05
CROP_UNSAID_LEAD = 0.5  # see Searcher._other_crop_lead
PART = 0.25  # 叶子, 树, 根: a part of the plant or animal says little about the problem
# An amount or a span of time (两亩, 几十只, 一百斤, 三四天, 个把月, 好几棵) says how much, not what is wrong:
# weighed like this share of a word.
AMOUNT = re.compile(r"^(?:好|多|几|[一二两三四五六七八九十百千万])[一二两三四五六七八九十百千万几来多余把些]*"
                    r"[个只头匹亩分斤两棵株天年月回次场根颗块担包袋箱桶瓶趟]?$|^个把[月天钟头]$")
AMOUNT_SHARE = 0.1


@dataclass(frozen=True)
class Entry:
    id: int
    ref: str
    title: str
    crops: tuple[str, ...]
    keywords: tuple[str, ...]
    summary: str
    body: str
    stamp: str = ""  # changes whenever the article changes
    phrasings: tuple[str, ...] = ()  # villagers' wordings officers attached; searched like keywords


@dataclass(frozen=True)
class Hit:
    id: int
    ref: str
    title: str
    score: float


@dataclass(frozen=True)
class Result:
    hits: tuple[Hit, ...]
    answered: bool
    reason: str  # "" when answered; else no_terms|no_match|weak|vague|crop_mismatch|topic_mismatch|
    #              subject_mismatch|sign_unshown|crop_unsaid|out_of_scope
    confidence: float = 0.0  # 0..1, see Searcher.confidence

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


# Below this share of the question's terms (idf-weighted) in the top article, rank() tries a second pass
# on pinyin (see benchmarks/retrieval.py, typo test).
SOUND_PASS_BELOW = 0.5


class Ranking(list[tuple[int, float]]):
    """(article id, score) best first, as rank() always returned; also says whether the pinyin pass made
    it (`by_sound`) and which articles that pass ranked higher than the first did (`rescued`)."""

    def __init__(self, hits: Iterable[tuple[int, float]] = (), by_sound: bool = False,
                 rescued: frozenset[int] = frozenset()) -> None:
        super().__init__(hits)
        self.by_sound = by_sound
        self.rescued = rescued

    def first(self, key: int) -> Ranking:
        """Article `key` moved to the first place; the scores stay in order (the first keeps the first score)."""
        order = [key, *(k for k, _ in self if k != key)]
        return Ranking(zip(order, (score for _, score in self), strict=True), self.by_sound, self.rescued)


class Searcher:
    """Holds the tokenizer, the index and the entries it was built from; swap-in rebuilds."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.entries: dict[int, Entry] = {}
        self.index = Index([])
        self._terms: dict[int, dict[str, list[str]]] = {}  # hash of the text -> field terms
        self._lock = asyncio.Lock()
        self.version = ""
        self._positions: dict[int, int] = {}
        self._covered: frozenset[str] = frozenset()  # the crops some article is about
        self._about: dict[int, frozenset[str]] = {}
        self.sound_pass = True  # rank()'s second pass on pinyin when the first is weak (off: to measure it)
        self._head: dict[int, frozenset[str]] = {}
        self._head_names: dict[int, set[str]] = {}  # the pests, diseases and kinds each head names
        self._head_words: dict[int, set[str]] = {}  # the same, said as whole words
        self._text: dict[int, str] = {}  # an article's whole text, folded: for the signs it mentions
        self._phrases: dict[int, list[frozenset[str]]] = {}  # filled as articles come top (_phrase_share)
        self._about_chars: dict[int, frozenset[str]] = {}
        self._char_idf: dict[str, float] = {}
        self._char_unseen = 1.0  # the weight of a character no article has: above the rarest one
        # The optional second opinion by meaning (content/meaning.py): the model, each article's vector by
        # id with the stamp it was made from, and the matrix of all of them once every article has one.
        self.meaning: Meaning | None = None
        self._vectors: dict[int, tuple[str, Vector]] = {}
        self._matrix: tuple[list[int], np.ndarray] | None = None
        self._row: dict[int, int] = {}  # article id -> its row in the matrix
        self._filling: asyncio.Task[None] | None = None
        self._questions: dict[str, Vector] = {}  # the last questions' vectors (see understand)
        # Everyday word counts from the tokenizer's dictionary: how rare a word unknown to the articles is.
        self._general_freq: dict[str, int] = tokenizer._jieba.FREQ
        self._general_total: float = float(tokenizer._jieba.total) or 1.0

    def build(self, entries: Iterable[Entry]) -> None:
        """(Re)build from entries; only new or changed ones are tokenised again. Blocking: use a thread."""
        ordered = sorted(entries, key=lambda e: e.ref)
        cache: dict[int, dict[str, list[str]]] = {}
        docs = []
        for e in ordered:
            key = hash((e.title, e.keywords, e.phrasings, e.summary, e.body))
            fields = self._terms.get(key) or self._field_terms(e)
            cache[key] = fields
            docs.append(Doc(e.id, fields))
        index = Index(docs)
        self._terms, self.entries, self.index = cache, {e.id: e for e in ordered}, index
        self._positions = {e.id: i for i, e in enumerate(ordered)}
        self._covered = frozenset(c for e in ordered for c in e.crops)
        # What an article is about (not merely mentions): its title and keywords.
        self._about = {e.id: frozenset(t for f in ("title", "lead", "keywords", "summary")
                                 for t in docs[i].fields[f])
                       for i, e in enumerate(ordered)}
        # A named disease or pest must be what the article is headed with, not a side remark.
        self._head = {e.id: frozenset(t for f in ("title", "lead", "keywords") for t in docs[i].fields[f])
                      for i, e in enumerate(ordered)}
        self._head_names = {key: self.tokenizer.entities(list(head)) for key, head in self._head.items()}
        # The names the head says as words (not a pair of characters across two words: 「一圈白 茶叶」 is no 白茶).
        self._head_words = {e.id: self.tokenizer.entities(self.tokenizer.words_and_terms(
            " ".join((e.title, *e.keywords)))[0]) for e in ordered}
        self._text = {e.id: fold(" ".join((e.title, *e.keywords, *e.phrasings, e.summary, e.body)))
                      for e in ordered}
        self._phrases = {}
        # The characters an article is about (title, keywords, questions, summary), and how telling each
        # character is among the articles: the problem's characters match where its words were cut
        # differently (胀起 against 胀肚, 翻白 against 浮头翻白).
        self._about_chars = {e.id: frozenset(CJK.findall(fold(" ".join((e.title, *e.keywords, *e.phrasings,
                                                                             e.summary)))))
                             for e in ordered}
        df: dict[str, int] = {}
        for chars in self._about_chars.values():
            for c in chars:
                df[c] = df.get(c, 0) + 1
        n = max(len(ordered), 1)
        self._char_idf = {c: math.log((n + 1) / (k + 0.5)) for c, k in df.items()}
        self._char_unseen = max(self._char_idf.values(), default=1.0) + 1.0

    def _field_terms(self, e: Entry) -> dict[str, list[str]]:
        tk = self.tokenizer
        # A title that only repeats the text's first sentence (made on import for untitled material) is
        # weaker evidence than a written title: it is indexed as the text's lead, not as its title.
        lead = is_lead(e.title, e.body)
        return {
            "title": [] if lead else tk.terms(e.title),
            "lead": tk.terms(e.title) if lead else [],
            "keywords": tk.terms(" ".join((*e.keywords, *e.phrasings))),
            "summary": tk.terms(e.summary),
            "body": tk.terms(e.body),
            # Only the second, sound-alike pass of rank() reaches these (see content/index.py).
            "title_py": tk.sounds(e.title),
            "keywords_py": tk.sounds(" ".join((*e.keywords, *e.phrasings))),
        }

    def rank(self, text: str, limit: int = 10) -> tuple[list[str], Ranking]:
        """The question's words and the best articles for it, (article id, score) best first. When the
        first pass is weak, a second pass adds the question's pinyin pairs (typos, homophones: 洋玉 for
        洋芋); the returned Ranking says so (`by_sound`) and which articles that pass moved up (`rescued`)."""
        tk = self.tokenizer
        words, terms = tk.words_and_terms(text, heard=True)
        if not terms:
            return words, Ranking()
        ranked = Ranking(self.index.search(terms, limit=limit))
        weak = not ranked or self.index.coverage(terms, ranked[0][0]) < SOUND_PASS_BELOW
        # Only where the spelling found nothing: sounding out what matched would count it twice.
        sounds = tk.sounds(text, known=self.index.idf.__contains__) if weak and self.sound_pass else []
        again = self.index.search(terms + sounds, limit=limit) if sounds else []
        if again:
            before = {key: n for n, (key, _) in enumerate(ranked)}
            rescued = frozenset(key for n, (key, _) in enumerate(again) if before.get(key, limit) > n)
            ranked = Ranking(again, by_sound=True, rescued=rescued)
        asked_crops = self.crops_asked(words)
        if asked_crops:
            # An article about the crop asked about beats a slightly better-scoring one about another.
            # General articles (no crops: frost, drought, safe spraying) are not pushed down.
            ranked.sort(key=lambda hit: bool(self.entries[hit[0]].crops)
                        and not asked_crops & set(self.entries[hit[0]].crops))
        return words, ranked

    def search(self, text: str, limit: int = 5) -> Result:
        """Rank, then answer only when the top article is about the problem asked, not merely the crop."""
        tk = self.tokenizer
        words, ranked = self.rank(text, limit=max(limit, 10))
        if not words:
            return Result((), False, "no_terms")
        if not ranked:
            return Result((), False, "no_match")
        asked_crops = self.crops_asked(words)
        ranked, reordered = self.by_meaning_first(text, ranked)
        if not reordered:
            ranked, reordered = self.by_names_first(words, asked_crops, ranked)
        if not reordered:
            ranked = self.by_signs_first(text, ranked)
        hits = tuple(Hit(i, self.entries[i].ref, self.entries[i].title, round(s, 4)) for i, s in ranked[:limit])
        top = self.entries[ranked[0][0]]
        confidence = self.confidence(words, asked_crops, ranked)
        if asked_crops and top.crops and not asked_crops & set(top.crops):
            return Result(hits, False, "crop_mismatch", confidence)
        said = {c for w in words if (c := tk.vocab.crop(w)) is not None} or asked_crops
        if said and not said & self._covered and not said & self._head[top.id]:
            # 「荞麦啥时候种」「牛粪能养蚯蚓不」: no article is about them (an article without crops must be headed
            # with the one asked: imported material on 羊肚菌 answers for 羊肚菌)
            return Result(hits, False, "crop_mismatch", confidence)
        if not self._subject_said(text, top):
            return Result(hits, False, "subject_mismatch", confidence)  # a sow article for any pig
        head = self._head[top.id]
        folded = fold(text)
        denied = {w for w in tk.entities(words)
                  if any(re.search(DENIED.format(re.escape(form)), folded) for form in tk.vocab.forms(w))}
        if any(self._found(w, head) for w in denied) or self._denies_title(text, top):
            return Result(hits, False, "topic_mismatch", confidence)  # 「不是霜霉病」: not the downy-mildew article
        named_asked = tk.entities(words) - denied  # a rival not headed with these could not be sent: no tie
        if not self._headed_with(named_asked, top.id):
            return Result(hits, False, "topic_mismatch", confidence)  # 晚疫病 asked, the article is about 早疫病
        if self._unshown_sign(text, top):
            return Result(hits, False, "sign_unshown", confidence)  # hollow potatoes, a potato-harvest article
        if self._guessed_grave(text, top):
            return Result(hits, False, "grave_unsure", confidence)  # 鹅拉绿稀屎 is not enough to say 鸭瘟
        if classify(text).name != TECHNIQUE:
            return Result(hits, False, "out_of_scope", confidence)  # a price, weather, 供求 or job text
        if asked_crops and self._about_share(words, top) is None:
            return Result(hits, False, "vague", confidence)  # "苞谷": a crop alone, no problem said
        if self.meaning is not None:
            confidence = self.confidence(words, asked_crops, ranked, text)  # a second opinion, where it counts
        if confidence < MIN_CONFIDENCE or self._about_nothing(words, top, asked_crops):
            return Result(hits, False, "weak", confidence)  # 「今天几号」: a sole hit in a body is no answer
        lead = MIN_LEAD if self.meaning is not None else MIN_LEAD_WORDS
        # The next article that could be sent instead: about the crop asked (or none), and with a pest or disease
        # named, headed with it. 「柑子上好多蜗牛」 is no tie between snails and a citrus article, nor 「柑子咋存到
        # 过年」 between citrus and pear storage.
        # An article about the crop asked is no tie with a general one (「核桃刚发芽就遭霜打了」: walnut frost, not
        # frost on any crop).
        on_crop = bool(asked_crops & set(top.crops))
        rival = next(((key, score) for key, score in ranked[1:]
                      if (not asked_crops or not self.entries[key].crops or asked_crops & set(self.entries[key].crops))
                      and not (on_crop and not self.entries[key].crops)
                      and (not named_asked or self._headed_with(named_asked, key))), None)
        if (not reordered and rival is not None and rival[1] >= ranked[0][1] * (1 - lead)
                and not self._says_more(words, top, self.entries[rival[0]],
                                        crowded=sum(score >= ranked[0][1] * (1 - lead) for _, score in ranked[1:]) > 1)):
            return Result(hits, False, "tie", confidence)  # two articles fit equally: a coin toss is no answer
        if (not asked_crops and top.crops and self._other_crop_lead(ranked) < CROP_UNSAID_LEAD
                and not self._named_for(words, top)):
            return Result(hits, False, "crop_unsaid", confidence)  # 腻虫 on which crop? not 大豆花叶病毒病
        return Result(hits, True, "", confidence)

    def crops_asked(self, words: list[str]) -> set[str]:
        """The crops the words name (洋芋) or are made from (麦穗, 猪圈, 春茶). Not guessed from the problem:
        that only peach's article is headed with 流胶 does not make 「花椒树流胶」 a peach question."""
        vocab = self.tokenizer.vocab
        asked = [vocab.crops_within(w) for w in words]
        named = {c for w, crops in zip(words, asked, strict=True) if vocab.crop(w) is not None for c in crops}
        # A word that only implies a whole kind of crop (青虫: any vegetable) yields to a crop named outright:
        # 「魔芋叶子被大青虫吃了」 is about konjac, not about the cabbage caterpillar. One crop implied stays
        # (「猪饲料 苞谷咋配」 is about pigs).
        broad = {c for w, crops in zip(words, asked, strict=True) if vocab.crop(w) is None and len(crops) > 1
                 for c in crops}
        every = {c for crops in asked for c in crops}
        return every - broad if named and not named & broad else every

    def confidence(self, words: list[str], asked_crops: set[str], ranked: list[tuple[int, float]],
                   text: str = "") -> float:
        """0..1: how sure we are that the top article answers the problem asked: a logistic score of the
        features below, weights fitted on the tuning set (benchmarks/answers.py --fit prints them and the
        precision–coverage curve they give)."""
        found = self.features(words, asked_crops, ranked)
        if found is None:
            return 0.0  # a crop name alone, or nothing but filler
        weights: tuple[float, ...] = WEIGHTS
        values: tuple[float, ...] = found
        if (second := self.by_meaning(text, ranked[0][0])) is not None:
            values, weights = (*found, *second), WEIGHTS_MEANING
        z = weights[-1] + sum(w * x for w, x in zip(weights, values, strict=False))
        return round(1 / (1 + math.exp(-z)), 3)

    async def understand(self, text: str) -> None:
        """On the serving path, before search(): embed the question in a thread (about 15 ms of CPU), so the
        event loop keeps serving meanwhile. search() embeds inline what was not prepared (console, API)."""
        if self.meaning is not None and self._matrix is not None and text not in self._questions:
            self._remember(text, await asyncio.to_thread(self.meaning.question, text))

    def _question(self, text: str) -> Vector:
        assert self.meaning is not None
        vector = self._questions.get(text)
        if vector is None:
            vector = self.meaning.question(text)
            self._remember(text, vector)
        return vector

    def _remember(self, text: str, vector: Vector) -> None:
        self._questions[text] = vector
        while len(self._questions) > QUESTIONS_KEPT:
            del self._questions[next(iter(self._questions))]

    def by_meaning_first(self, text: str, ranked: Ranking) -> tuple[Ranking, bool]:
        """With the meaning model: of the best few articles by words that are about the same crop as the
        first (siblings: 天麻 harvest and 天麻 rot), the one closest in meaning goes first when it is clearly
        closer. The scores stay in order (the first place keeps the first score). Also says if it moved."""
        if self.meaning is None or self._matrix is None or len(ranked) < 2:
            return ranked, False
        first_id, first = ranked[0]
        crops = set(self.entries[first_id].crops)
        # Siblings, and any article tied with the first by words (which alone would be a coin toss).
        near = [key for key, score in ranked[:SIBLINGS] if (score >= first * SIBLING_SHARE
                and set(self.entries[key].crops) == crops) or score >= first * (1 - MIN_LEAD)]
        if len(near) < 2:
            return ranked, False
        _, matrix = self._matrix
        question = self._question(text)
        sims = {key: float(matrix[self._row[key]] @ question) for key in near if key in self._row}
        if len(sims) < 2:
            return ranked, False
        best, runner_up = sorted(sims, key=sims.__getitem__, reverse=True)[:2]
        if best == first_id:  # clearly the closest of those near it: no coin toss
            return ranked, sims[best] - sims[runner_up] >= SIBLING_MARGIN
        if first_id not in sims or sims[best] - sims[first_id] < SIBLING_MARGIN:
            return ranked, False
        return ranked.first(best), True

    def by_names_first(self, words: list[str], asked_crops: set[str], ranked: Ranking) -> tuple[Ranking, bool]:
        """When the question names a pest or disease the first article is not headed with (「柑子园蜗牛多啃果皮」:
        a citrus winter-work article) and one of the best few, near in score and about the crop asked or
        about none, is headed with every name said (the snail article), that one goes first. The first
        could never be sent (see search: topic_mismatch), so it is no tie either. Also says if it moved."""
        named = self.tokenizer.entities(words)
        if len(ranked) < 2 or not named or self._headed_with(named, ranked[0][0]):
            return ranked, False
        first = ranked[0][1]
        for key, score in ranked[1:NAMED_WITHIN]:
            entry = self.entries[key]
            about_crop = not entry.crops or not asked_crops or bool(asked_crops & set(entry.crops))
            if score >= first * SIBLING_SHARE and about_crop and self._headed_with(named, key):
                return ranked.first(key), True
        return ranked, False

    def by_signs_first(self, text: str, ranked: Ranking) -> Ranking:
        """When the first article never mentions a sign the question says (「天麻挖出来烂了」: the harvest
        article) and a sibling among the best few (same crops, near in score) mentions every one (天麻 rot),
        the sibling goes first; the scores stay in order, so a near tie is still no answer."""
        if len(ranked) < 2 or not self._unshown_sign(text, self.entries[ranked[0][0]]):
            return ranked
        first_id, first = ranked[0]
        crops = set(self.entries[first_id].crops)
        for key, score in ranked[1:SIBLINGS]:
            entry = self.entries[key]
            if score >= first * SIBLING_SHARE and set(entry.crops) == crops and not self._unshown_sign(text, entry):
                return ranked.first(key)
        return ranked

    def by_meaning(self, text: str, key: int) -> tuple[float, float] | None:
        """Whether article `key` is also the closest in meaning to the text (1.0 or 0.0), and by how much
        its similarity beats the closest other article's (×10); None without the meaning model or before
        every article has its vector."""
        if self.meaning is None or self._matrix is None or not text:
            return None
        ids, matrix = self._matrix
        if key not in self._row or len(ids) < 2:
            return None
        sims = matrix @ self._question(text)
        at = self._row[key]
        mine = float(sims[at])
        sims[at] = -2.0
        other = int(np.argmax(sims))
        return float(mine > float(sims[other])), (mine - float(sims[other])) * 10

    def features(self, words: list[str], asked_crops: set[str],
                 ranked: list[tuple[int, float]]) -> tuple[float, ...] | None:
        """What tells a right answer from a guess: how much of the problem the top article is about (title,
        keywords, summary); how far it leads the next article; how strongly it matched for this question;
        whether the crop went unsaid; whether a pest or disease was named; how much of the problem the
        article contains at all; the weightiest problem word it lacks; how much of the problem its title and
        keywords carry; how far it leads the best article about another crop; how much of the problem's
        characters its about-text holds; the largest share of one of its own phrasings the question says; and
        for the next articles, how much of the problem the best of them is about, and how much of its characters
        and of one of its phrasings the second holds."""
        top = self.entries[ranked[0][0]]
        about = self._about_share(words, top)
        if about is None:
            return None
        first, second = ranked[0][1], (ranked[1][1] if len(ranked) > 1 else 0.0)
        margin = (first - second) / first if first > 0 else 0.0
        # The score against what all the question's known terms could give: comparable across indexes.
        mass = sum(self.index.idf.get(t, 0.0) for t in set(self.tokenizer.terms(" ".join(words))))
        strength = min(first / mass, 3.0) if mass > 0 else 0.0
        unsaid = float(not asked_crops and bool(top.crops))  # "叶子发黄咋办": which crop?
        named = float(bool(self.tokenizer.entities(words)))
        problem = self._problem(words)
        have = self.index.doc_terms[self._positions[top.id]]
        weights = [self._weight(w) for w in problem]
        body = sum(wt for w, wt in zip(problem, weights, strict=True) if self._found(w, have)) / sum(weights)
        miss = max([wt for w, wt in zip(problem, weights, strict=True) if not self._found(w, have)] or [0.0])
        head = sum(wt for w, wt in zip(problem, weights, strict=True) if self._found(w, self._head[top.id]))
        # How much of the problem the next articles are about too: a second article as much about it makes the
        # first a less sure answer, whatever their scores.
        runner_up = self.entries[ranked[1][0]] if len(ranked) > 1 else None
        rival_about = max([self._about_share(words, self.entries[key]) or 0.0 for key, _ in ranked[1:RIVALS]],
                          default=0.0)
        return (about, margin, strength, unsaid, named, body, miss / self.index.max_idf,
                head / sum(weights), self._other_crop_lead(ranked, problem if asked_crops & set(top.crops) else None),
                self._char_share(problem, top),
                self._phrase_share(words, top),
                rival_about,
                self._char_share(problem, runner_up) if runner_up is not None else 0.0,
                self._phrase_share(words, runner_up) if runner_up is not None else 0.0)

    def _problem(self, words: list[str]) -> list[str]:
        """The words that say the problem: crop names and bare numbers aside."""
        return [w for w in words if self.tokenizer.vocab.crop(w) is None and not w.isdigit()]

    def _about_nothing(self, words: list[str], top: Entry, asked_crops: set[str]) -> bool:
        """Nothing of the problem is in what the article is about (its title, keywords, questions and summary):
        only its body or the crop matched (「红苕想切片晒成红苕干」 and the weevil article, about none of 切片, 晒,
        发黑). Imported material without a summary says little of what it is about: there, with a crop said,
        its body will do, and with none, a character of the problem in its title."""
        if self._about_share(words, top) != 0:
            return False
        if top.summary:
            return True
        return not asked_crops and self._char_share(self._problem(words), top) == 0

    def _says_more(self, words: list[str], top: Entry, rival: Entry, crowded: bool = False) -> bool:
        """Near in score, yet the top article holds clearly more of the problem's characters in what it is about
        and more of one of its own phrasings: 「牛蹄子缝里烂了 臭烘烘的 走路瘸」 is foot rot, not a tie with the
        foot-and-mouth vaccine that also speaks of hooves (see TIE_CHARS). Or, with one rival near (not several:
        「柑橘树叶子卷起来了」 fits leaf miner, aphids and anthracnose alike), more of the problem's characters
        and more of its words."""
        problem = self._problem(words)
        chars = self._char_share(problem, top) - self._char_share(problem, rival)
        if chars >= TIE_CHARS and self._phrase_share(words, top) - self._phrase_share(words, rival) >= TIE_PHRASE:
            return True
        return not crowded and chars >= TIE_ABOUT_CHARS and (self._about_share(words, top) or 0.0) - (
            self._about_share(words, rival) or 0.0) >= TIE_ABOUT

    def _char_share(self, problem: list[str], entry: Entry) -> float:
        """Share of the problem's characters (weighted by how rare each is among the articles; a character
        no article is about weighs most) that the article's title, keywords, questions and summary hold."""
        chars = {c for w in problem for c in CJK.findall(w)}
        if not chars:
            return 0.0
        weights = {c: self._char_idf.get(c, self._char_unseen) for c in chars}
        have = self._about_chars[entry.id]
        return sum(wt for c, wt in weights.items() if c in have) / sum(weights.values())

    def _phrase_share(self, words: list[str], entry: Entry) -> float:
        """The largest share of one of the article's own phrasings (its title, a keyword, a way villagers ask
        it) that the question says, in pairs of characters, crops aside: 「红苕下窖一个冬天烂了一半多 心疼死了」
        says most of 「红苕下窖烂了」 though its other words are the villager's own."""
        said = self._pairs(words)
        if not said:
            return 0.0
        phrases = self._phrases.get(entry.id)
        if phrases is None:
            own = (entry.title, *entry.keywords, *entry.phrasings)
            phrases = self._phrases[entry.id] = [p for p in (self._pairs(self.tokenizer.words(x)) for x in own) if p]
        return max((len(p & said) / len(p) for p in phrases), default=0.0)

    def _pairs(self, words: list[str]) -> frozenset[str]:
        chars = [c for w in words if self.tokenizer.vocab.crop(w) is None for c in CJK.findall(w)]
        return frozenset(a + b for a, b in itertools.pairwise(chars))

    def _named_for(self, words: list[str], entry: Entry) -> bool:
        """The pest or disease the text names belongs to the article's crops alone: every article headed
        with it is about one of them (大斑病 is maize's), so the crop went unsaid but not unknown."""
        named = self.tokenizer.entities(words)
        if not named:
            return False
        crops = set(entry.crops)
        holders = [e for e in self.entries.values() if named <= self._head[e.id]]  # as written: 斑病 is not 大斑病
        return bool(holders) and all(e.crops and crops & set(e.crops) for e in holders)

    def _other_crop_lead(self, ranked: list[tuple[int, float]], problem: list[str] | None = None) -> float:
        """How far the top article leads the best one about other crops (1.0: none in sight). When the
        crop goes unsaid, an answer needs the problem to point at one crop: 背面长白毛 fits potato and
        tomato alike. Given the problem words (the crop said), an article about another crop counts only
        when it is about a problem word the top article is not: the chestnut-aphid article is no rival
        to the peach-aphid one for 「桃树叶子卷了 里头全是绿色小虫」, however densely it speaks of aphids."""
        top_id, first = ranked[0]
        crops = set(self.entries[top_id].crops)
        covered = None if problem is None else self._about_words(problem, top_id)
        other = max((score for key, score in ranked[1:]
                     if self.entries[key].crops and not crops & set(self.entries[key].crops)
                     and (covered is None or not self._about_words(problem or [], key) <= covered)), default=0.0)
        return (first - other) / first if first > 0 else 0.0

    def _about_words(self, problem: list[str], key: int) -> frozenset[str]:
        about = self._about[key]
        return frozenset(w for w in problem if self._found(w, about))

    def _about_share(self, words: list[str], entry: Entry) -> float | None:
        """Share of the problem words (not crop names; weighted by how telling they are) that the article
        is about: its title, keywords, officers' phrasings and summary. None when no problem is said."""
        tk = self.tokenizer
        problem = self._problem(words)
        if not any(CJK.search(w) for w in problem) or (
                not any(tk.vocab.crop(w) for w in words) and max(map(len, problem)) < 2):
            return None
        weights = [self._weight(w) for w in problem]
        about = self._about[entry.id]
        return sum(wt for w, wt in zip(problem, weights, strict=True) if self._found(w, about)) / sum(weights)

    def _weight(self, word: str) -> float:
        """How telling a word is: its idf among the articles; for a word no article uses, how rare it is
        in everyday Chinese (jieba's word counts), so 潜叶蛾 or 花椒 weigh much, 去年 or 屋里 little."""
        weight = self.index.idf.get(word)
        if weight is None:
            freq = self._general_freq.get(word, 0)
            rarity = math.log(self._general_total / (freq + 1))
            weight = UNKNOWN_WEIGHT * self.index.max_idf * min(1.0, max(0.15, (rarity - 8) / 5))
        if word in PARTS:
            weight *= PART
        elif len(word) > 1 and AMOUNT.match(word):
            weight *= AMOUNT_SHARE
        return weight * (SINGLE_CHAR if len(word) == 1 else 1.0)

    def _subject_said(self, text: str, entry: Entry) -> bool:
        """The question names the life stage or sex the article's title is about, if it is about one (one of
        them, when it names several: 「母羊、母牛乳房炎」 answers about either)."""
        folded = fold(text)
        named = [said for subject, said in SUBJECTS.items() if subject in entry.title]
        return not named or any(any(w in folded and f"不是{w}" not in folded for w in said)  # "大牛拉稀 不是小牛"
                                for said in named)

    def _unshown_sign(self, text: str, entry: Entry) -> str:
        """The first sign the question names (content/dict/signs.toml) that the article never mentions, or "":
        an article that never says 空 does not answer "洋芋切开中间是空的"."""
        article = self._text.get(entry.id, "")
        return next((sign for sign in self._said_signs(text)
                     if not any(w in article for w in SIGNS[sign]["shown"])), "")

    @staticmethod
    def _denies_title(text: str, entry: Entry) -> bool:
        """The text says a sign is absent that the article's title is about: 「杆子上没流胶」 is not for 花椒流胶病."""
        folded, title = fold(text), fold(entry.title)
        return any(w in title and w in folded and re.search(SIGN_ABSENT.format(re.escape(w)), folded)
                   for forms in SIGNS.values() for w in forms["said"])

    def _said_signs(self, text: str) -> list[str]:
        """The signs the text names, not those it denies: 「不是虫咬的」 says no insect. 肿么办 on its own
        (online speech for 怎么办) names no swelling; 腿肿么办 (腿肿, 么办) does."""
        folded = re.sub(r"(^|[^\u3400-\u9fff])肿么", r"\1怎么", fold(text))
        if self._named_like_signs is not None:  # 落花生 (peanuts) says no 落花
            folded = self._named_like_signs.sub("・", folded)
        return [sign for sign, forms in SIGNS.items()
                if any(w in folded and not re.search(SIGN_DENIED.format(re.escape(w)), folded) for w in forms["said"])]

    @functools.cached_property
    def _named_like_signs(self) -> re.Pattern[str] | None:
        """The crops' names that hold a sign's words (落花生 holds 落花): they name the crop, not the sign."""
        vocab = self.tokenizer.vocab
        names = vocab.crop_names()
        said = [w for forms in SIGNS.values() for w in forms["said"]]
        hit = sorted((n for n in names if any(w in n for w in said)), key=len, reverse=True)
        return re.compile("|".join(map(re.escape, hit))) if hit else None

    def _guessed_grave(self, text: str, entry: Entry) -> bool:
        """The article diagnoses a grave disease the text does not name, from fewer than MIN_GRAVE_SIGNS of
        the signs it describes. A text that says no sign at all (禽流感疫苗要打不) is not a diagnosis."""
        # Named after 防 (「柑橘木虱的防治（防黄龙病）」), the disease is what the article helps prevent, not one it
        # diagnoses: the psyllid article answers a text describing psyllids.
        names = [name for disease, names in GRAVE.items()
                 if disease in entry.title and f"防{disease}" not in entry.title for name in names]
        head = self._head[entry.id]
        if not names or any(self._found(w, head) for w in self.tokenizer.entities(self.tokenizer.words(text, heard=True))):
            return False  # 「是木虱吗」: the pest the article is headed with (柑橘木虱，传黄龙病) named, no guess
        folded = fold(text)
        said = self._said_signs(text)
        return bool(said) and not any(name in folded for name in names) and len(said) < MIN_GRAVE_SIGNS

    def plausible(self, text: str, result: Result, limit: int = 3) -> list[int]:
        """Ids of ranked articles worth offering as "相近的资料": about the crop asked (or general) and
        about part of the problem — never honey harvest for a tree question."""
        tk = self.tokenizer
        words = tk.words(text, heard=True)
        asked = self.crops_asked(words)
        near = []
        for hit in result.hits:
            entry = self.entries.get(hit.id)
            if entry is None or (asked and entry.crops and not asked & set(entry.crops)):
                continue
            if not asked and entry.crops:
                continue  # the crop was not said: a crop-specific article is a guess
            if self._unshown_sign(text, entry) or self._guessed_grave(text, entry):
                continue  # not even as a close topic: 鸭瘟 for "鹅拉绿稀屎" would still read as a diagnosis
            if (self._about_share(words, entry) or 0.0) >= NEAR_ABOUT:
                near.append(hit.id)
        return near[:limit]

    def _headed_with(self, named: set[str], key: int) -> bool:
        """The article is headed with every pest and disease named (and no near namesake: 早疫病 for 晚疫病),
        and with one of the kinds of produce named, if any (「只会炒绿茶 想做红茶」: the black-tea article)."""
        head, in_head = self._head[key], self._head_names[key]
        kinds = {w for w in named if self.tokenizer.tags.get(w) == "kind"}
        if any(self.tokenizer.tags.get(w) == "gap" and w not in self._head_words[key] for w in named):
            return False  # a name no article covers is matched whole: 毛毡病 is no other 毛毡
        # A kind is matched whole too: 「能做白茶不」 is not an article with 「一圈白 茶叶」 in its head.
        return (all(self._found(w, head) and not self._names_another(w, in_head) for w in named - kinds)
                and (not kinds or any(w in self._head_words[key] for w in kinds)))

    @staticmethod
    def _found(word: str, have: frozenset[str]) -> bool:
        """The article has the word, or most of its character pairs (other cuts, typos)."""
        if word in have:
            return True
        pairs = [word[i : i + 2] for i in range(len(word) - 1)]
        return bool(pairs) and sum(p in have for p in pairs) * 2 >= len(pairs) + (len(pairs) > 2)

    @staticmethod
    def _names_another(word: str, named: set[str]) -> bool:
        """The article names a different pest or disease that differs from `word` in one character
        (早疫病 for 晚疫病): the near match _found allows for typos would then be the wrong disease."""
        if word in named:
            return False
        return any(len(other) == len(word) and sum(a != b for a, b in zip(other, word, strict=True)) == 1
                   for other in named)

    def _position(self, key: int) -> int:
        return self._positions[key]

    def use_meaning(self, meaning: Meaning | None) -> None:
        """Turn the second opinion by meaning on (a model) or off (None). On: the articles' vectors are loaded
        or made in the background (call from the event loop); until then, answers use words alone."""
        self.meaning = meaning
        self._matrix, self._vectors, self._questions = None, {}, {}
        if meaning is not None and self.entries:
            self._start_filling()

    async def meaning_ready(self) -> bool:
        """Wait for the articles' vectors being made (if any); True when every article has one."""
        if self._filling is not None:
            await asyncio.shield(self._filling)
        return self._matrix is not None

    async def close(self) -> None:
        if self._filling is not None and not self._filling.done():
            self._filling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filling

    def _stale(self) -> list[Entry]:
        return [e for e in self.entries.values() if self._vectors.get(e.id, ("", None))[0] != e.stamp]

    async def _fill(self) -> None:
        """Give every searched article its vector: stored ones first, the rest embedded a few at a time in a
        thread (the event loop keeps serving; until all are done, answers use words alone) and stored."""
        meaning = self.meaning
        assert meaning is not None
        stored = await ArticleVector.filter(article_id__in=[e.id for e in self._stale()]).values(
            "article_id", "stamp", "vector")
        for row in stored:
            entry, vector = self.entries.get(row["article_id"]), meanings.from_bytes(bytes(row["vector"]))
            if entry is not None and vector is not None and row["stamp"] == entry.stamp:
                self._vectors[entry.id] = (entry.stamp, vector)
        while todo := self._stale()[:EMBED_BATCH]:
            made = await asyncio.to_thread(
                meaning.articles, [meanings.passage(e.title, e.phrasings, e.summary) for e in todo])
            for entry, vector in zip(todo, made, strict=True):
                self._vectors[entry.id] = (entry.stamp, vector)
            try:
                await ArticleVector.filter(article_id__in=[e.id for e in todo]).delete()
                await ArticleVector.bulk_create([ArticleVector(article_id=e.id, stamp=e.stamp, vector=meanings.to_bytes(v))
                                                 for e, v in zip(todo, made, strict=True)])
            except Exception:  # an article deleted meanwhile: kept in memory, stored next time
                log.warning("could not store article vectors", exc_info=True)
        self._settle()
        log.info("meaning vectors ready", extra={"articles": len(self.entries)})

    def _settle(self) -> None:
        """The matrix of every article's vector, or None while any article lacks a fresh one."""
        if self.meaning is None or self._stale():
            self._matrix = None
            return
        ids = sorted(self.entries)
        self._matrix = (ids, np.stack([self._vectors[i][1] for i in ids]))
        self._row = {key: n for n, key in enumerate(ids)}

    def _start_filling(self) -> None:
        self._settle()
        if self.meaning is not None and self._matrix is None and (self._filling is None or self._filling.done()):
            self._filling = asyncio.get_running_loop().create_task(self._fill(), name="article vectors")

    async def refresh(self) -> bool:
        """Rebuild from the database when articles changed since the last build. True if rebuilt."""
        async with self._lock:
            # A cheap check first; the full load only when something was added, edited or deleted.
            conn = connections.get("default")
            stats = await conn.execute_query_dict(
                "SELECT COUNT(*) AS n, MAX(updated_at) AS changed, SUM(id) AS ids FROM article"
                f" WHERE status = '{PUBLISHED}'"  # drafts are never searched
            )
            version = "{n}:{changed}:{ids}".format(**stats[0])
            if version == self.version:
                return False
            rows = await Article.filter(status=PUBLISHED).order_by("ref").values(
                "id", "ref", "title", "crops", "keywords", "phrasings", "questions", "summary", "body", "updated_at"
            )
            entries = [entry_from_row(r) for r in rows]
            await asyncio.to_thread(self.build, entries)
            self.version = version
            self._start_filling()
            log.info("search index rebuilt", extra={"articles": len(entries)})
            return True


def is_lead(title: str, body: str) -> bool:
    """True when the title is the body's own first sentence (or its start, cut with '…')."""
    head = title.rstrip("…").strip()
    return bool(head) and head in body[: len(head) + 40]


def entry_from_row(row: dict) -> Entry:  # type: ignore[type-arg]
    stamp = row["updated_at"].isoformat() if isinstance(row["updated_at"], datetime) else str(row["updated_at"])
    return Entry(
        id=row["id"], ref=row["ref"], title=row["title"],
        crops=tuple(c for c in row["crops"].split(",") if c), keywords=tuple(row["keywords"] or ()),
        summary=row["summary"], body=row["body"], stamp=stamp,
        # The author's questions and the wordings officers attached are searched alike.
        phrasings=(*(row.get("questions") or ()), *(row.get("phrasings") or ())),
    )
