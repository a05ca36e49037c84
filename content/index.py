"""An in-memory BM25 index with field weights (title and keywords count more than the body)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Field weights and BM25 constants, chosen on the evaluation sets (see benchmarks/retrieval.py).
FIELD_WEIGHTS = {"title": 5.0, "keywords": 2.0, "summary": 1.0, "body": 1.0}
K1 = 1.2
B = 0.6


@dataclass(frozen=True)
class Doc:
    key: int  # the article id
    fields: dict[str, list[str]]  # field name -> its terms


class Index:
    """Immutable once built; rebuild (cheap with cached terms) and swap to change it."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.keys = np.array([d.key for d in docs], dtype=np.int64)
        self.size = len(docs)
        weighted: list[Counter[str]] = []
        for doc in docs:
            tf: Counter[str] = Counter()
            for name, terms in doc.fields.items():
                weight = FIELD_WEIGHTS.get(name, 1.0)
                for term in terms:
                    tf[term] += weight
            weighted.append(tf)
        self.doc_terms = [frozenset(tf) for tf in weighted]
        # One row per (document, term): columns built in Python once, all arithmetic in numpy.
        term_ids: dict[str, int] = {}
        docs_col: list[int] = []
        terms_col: list[int] = []
        tf_col: list[float] = []
        for i, tf in enumerate(weighted):
            for term, f in tf.items():
                docs_col.append(i)
                terms_col.append(term_ids.setdefault(term, len(term_ids)))
                tf_col.append(f)
        doc_of = np.array(docs_col, dtype=np.int32)
        term_of = np.array(terms_col, dtype=np.int64)
        tf_arr = np.array(tf_col, dtype=np.float64)
        lengths = np.bincount(doc_of, weights=tf_arr, minlength=self.size)
        avg = float(lengths.mean()) if self.size else 1.0
        df = np.bincount(term_of, minlength=len(term_ids))
        idf = np.log(1 + (self.size - df + 0.5) / (df + 0.5))
        self.idf = dict(zip(term_ids, idf.tolist(), strict=True))
        self.max_idf = math.log(1 + (self.size + 0.5) / 0.5)
        norm = K1 * (1 - B + B * lengths / (avg or 1.0))
        weights = idf[term_of] * tf_arr * (K1 + 1) / (tf_arr + norm[doc_of])
        order = np.argsort(term_of, kind="stable")
        self._docs = doc_of[order]
        self._weights = weights[order].astype(np.float32)
        bounds = np.searchsorted(term_of[order], np.arange(len(term_ids) + 1))
        self._postings = {t: (int(bounds[k]), int(bounds[k + 1])) for t, k in term_ids.items()}

    def search(self, terms: Iterable[str], limit: int = 10) -> list[tuple[int, float]]:
        """(article id, score) best first; only articles sharing at least one term."""
        spans = [self._postings[t] for t in sorted(set(terms)) if t in self._postings]
        if not spans or limit <= 0:
            return []
        ids = np.concatenate([self._docs[a:b] for a, b in spans])
        weights = np.concatenate([self._weights[a:b] for a, b in spans])
        scores = np.bincount(ids, weights=weights, minlength=self.size)
        count = min(limit, int(np.count_nonzero(scores)))
        top = np.argpartition(-scores, count - 1)[:count] if count < self.size else np.arange(self.size)
        # Ties go to the earlier document (documents are built in ref order): same answer on any DB.
        top = top[np.lexsort((top, -scores[top]))][:count]
        return [(int(self.keys[i]), float(scores[i])) for i in top if scores[i] > 0]

    def coverage(self, terms: Iterable[str], key: int) -> float:
        """Share of the query's information (idf-weighted) that the article contains, 0..1."""
        unique = set(terms)
        if not unique:
            return 0.0
        position = int(np.nonzero(self.keys == key)[0][0])
        have = self.doc_terms[position]
        total = sum(self.idf.get(t, self.max_idf) for t in unique)
        found = sum(self.idf[t] for t in unique if t in have)
        return found / total if total else 0.0
