"""Cut Chinese text into search terms: jieba words + character bigrams, dialect mapped, stop words out."""

from __future__ import annotations

import functools
import io
import logging
import re
import unicodedata
from pathlib import Path

import jieba

from content.vocab import Vocabulary, vocabulary

DICT_DIR = Path(__file__).parent / "dict"
CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
KEEP = re.compile(r"^[\u3400-\u9fff0-9a-z.%]+$")  # words, numbers and units; not punctuation


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
        for word in [*self.vocab.aliases, *self.vocab.crops, *self.vocab.aliases.values(), *self.out_of_scope]:
            if " " not in word and word not in self.tags:
                entries.append(f"{word} 2000")
        self._jieba = jieba.Tokenizer()
        # A file object, not a path: jieba never closes a path it opens (ResourceWarning).
        self._jieba.load_userdict(io.BytesIO("\n".join(entries).encode("utf-8")))

    def words(self, text: str) -> list[str]:
        """Standard-name words of `text`, stop words and punctuation removed."""
        text = unicodedata.normalize("NFKC", text).casefold()
        out: list[str] = []
        for raw in self._jieba.lcut(text, HMM=False):
            word = raw.strip()
            if not word or not KEEP.match(word):
                continue
            for std in self.vocab.canonical(word).split():
                if std not in self.stop:
                    out.append(std)
        return out

    def terms(self, text: str) -> list[str]:
        """Words plus the character bigrams of the (dialect-mapped) text: robust to typos and odd cuts."""
        words = self.words(text)
        bigrams = [
            run[i : i + 2]
            for word in words
            for run in CJK_RUN.findall(word)
            for i in range(len(run) - 1)
        ]
        joined = "".join(w for w in words if CJK_RUN.fullmatch(w))
        # Bigrams across word boundaries catch what jieba cut differently in article and question.
        across = {joined[i : i + 2] for i in range(len(joined) - 1)} - set(bigrams)
        return words + bigrams + sorted(across)

    def entities(self, words: list[str]) -> set[str]:
        """The disease, pest and product names among `words` (used to refuse mismatched answers)."""
        return {w for w in words if self.tags.get(w) in ("dis", "pest")}


@functools.cache
def shared() -> Tokenizer:
    """The process's tokenizer: the dictionary is loaded once however many apps or commands ask."""
    return Tokenizer()
