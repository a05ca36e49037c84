"""Cut Chinese text into search terms: jieba words + character bigrams, dialect mapped, stop words out."""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Callable
from pathlib import Path

import jieba

from content.fold import fold, syllables
from content.vocab import Vocabulary, vocabulary

DICT_DIR = Path(__file__).parent / "dict"
CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
KEEP = re.compile(r"^[\u3400-\u9fff0-9a-z.%]+$")  # words, numbers and units; not punctuation
NAME_PIECE = re.compile(r"^(?:[\u3400-\u9fff]|[0-9a-z]*[0-9][0-9a-z]*|[a-z])$")  # one character or a code
DIGIT = re.compile(r"[0-9]")
UNITS = frozenset("年月日天时分秒周岁代次个只头株粒穗叶片亩斤克吨米升度倍元万亿千百%℃")  # 2019年 is no name


@functools.lru_cache(maxsize=1 << 15)
def _sound(char: str) -> str:
    """A character's toneless pinyin, its most common reading. Character by character, not by phrase:
    the same on both sides of a match, and thousands of times faster once seen."""
    return syllables(char)[0]


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


class Tokenizer:
    """Load once at start-up (about a second, off the event loop); cutting is thread-safe."""

    def __init__(self, vocab: Vocabulary | None = None, dict_dir: Path = DICT_DIR) -> None:
        jieba.setLogLevel(logging.WARNING)
        self.vocab = vocab or vocabulary()
        self.stop = frozenset(w for line in _lines(dict_dir / "stopwords.txt") for w in line.split())
        self.out_of_scope = frozenset(w for line in _lines(dict_dir / "out_of_scope.txt") for w in line.split())
        self.tags: dict[str, str] = {}
        entries = []
        for line in _lines(dict_dir / "userdict.txt"):
            parts = line.split()
            entries.append(line)
            if len(parts) == 3:
                self.tags[parts[0]] = parts[2]
        # Dialect words and standard names must stay whole so they can be mapped.
        names = [*self.vocab.aliases, *self.vocab.crops, *self.vocab.aliases.values(), *self.out_of_scope]
        entries.extend(f"{word} 2000" for word in names if " " not in word and word not in self.tags)
        self._jieba = jieba.Tokenizer()
        # A file object, not a path: jieba never closes a path it opens (ResourceWarning).
        self._jieba.load_userdict(io.BytesIO("\n".join(entries).encode("utf-8")))

    def _pieces(self, text: str) -> list[str]:
        """jieba's cut of the folded text (traditional → simplified, full-width → half-width, lower case
        first); white space stays as one " " piece: it separates words and keywords."""
        return [raw.strip() or " " for raw in self._jieba.lcut(fold(text), HMM=False)]

    def words(self, text: str) -> list[str]:
        """Standard-name words of `text`, stop words and punctuation removed."""
        return self._words(self._pieces(text))

    def _words(self, pieces: list[str]) -> list[str]:
        out: list[str] = []
        for word in pieces:
            if not KEEP.match(word):
                continue
            out.extend(std for std in self.vocab.canonical(word).split() if std not in self.stop)
        return out

    @staticmethod
    def names(pieces: list[str]) -> list[str]:
        """Variety and line names jieba cuts to pieces ('株两优112' -> 株/两/优/112), joined again: the
        single characters and codes just before a number (and a 号 after it), with each shorter tail
        ('两优112', '优112'), so a name still matches when a character of the text before it joined."""
        out: list[str] = []
        for end, piece in enumerate(pieces):
            if not (DIGIT.search(piece) and NAME_PIECE.match(piece)):
                continue
            after = pieces[end + 1] if end + 1 < len(pieces) else ""
            if after == "号":
                end += 1
            elif after[:1] in UNITS:
                continue  # 2019年, 13千克: an amount, not a name
            start = end
            while start > 0 and end - start < 5 and NAME_PIECE.match(pieces[start - 1]):
                start -= 1
            for k in range(start, end):
                tail = pieces[k : end + 1]
                if any(CJK_RUN.fullmatch(p) and p != "号" for p in tail):  # '12号' alone is no name
                    out.append("".join(tail))
        return out

    def terms(self, text: str) -> list[str]:
        """Words plus the character bigrams of the (dialect-mapped) text: robust to typos and odd cuts."""
        pieces = self._pieces(text)
        words = self._words(pieces)
        bigrams = [
            run[i : i + 2]
            for word in words
            for run in CJK_RUN.findall(word)
            for i in range(len(run) - 1)
        ]
        joined = "".join(w for w in words if CJK_RUN.fullmatch(w))
        # Bigrams across word boundaries catch what jieba cut differently in article and question.
        across = {joined[i : i + 2] for i in range(len(joined) - 1)} - set(bigrams)
        return words + bigrams + sorted(across) + self.names(pieces)

    def sounds(self, text: str, known: Callable[[str], bool] | None = None) -> list[str]:
        """Toneless pinyin syllable pairs ('yang yu', 'yu ye', …) within each stretch of words, as typed
        and as mapped to standard names: '洋玉' (a slip for 洋芋) still sounds like the 洋芋 of an
        article. With `known`, only the pairs of characters it does not know (where the spelling found
        nothing) are sounded. The space keeps them apart from every word and character pair."""
        out: set[str] = set()
        typed: list[str] = []
        mapped: list[str] = []
        for piece in [*self._pieces(text), ""]:  # "" ends the last stretch
            if CJK_RUN.fullmatch(piece) and piece not in self.stop:
                typed.append(piece)
                mapped.extend(w for w in self.vocab.canonical(piece).split() if w not in self.stop)
                continue
            for run in {"".join(typed), "".join(mapped)}:  # punctuation, a stop word or a number
                syl = [_sound(c) for c in run]
                out.update(f"{syl[i]} {syl[i + 1]}" for i in range(len(run) - 1)
                           if known is None or not known(run[i : i + 2]))
            typed, mapped = [], []
        return sorted(out)

    def entities(self, words: list[str]) -> set[str]:
        """The disease, pest and product names among `words` (used to refuse mismatched answers)."""
        return {w for w in words if self.tags.get(w) in ("dis", "pest")}


@functools.cache
def shared() -> Tokenizer:
    """The process's tokenizer: the dictionary is loaded once however many apps or commands ask."""
    return Tokenizer()
