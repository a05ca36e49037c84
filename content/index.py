"""An in-memory BM25F index with field weights (title and keywords count more than the body)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# How each field of an article counts, chosen on the public dev sets (see benchmarks/retrieval.py).
# Fields are pooled into groups: within a group, terms count with their field's weight and are saturated
# and length-normalised once (BM25F); the groups' scores are added. A written title is scored both in the
# text and on its own (a short title that is all words of the question wins); a title made from the first
# sentence of untitled material counts as the text's lead. Pinyin pairs of the title and keywords are
# their own group: only a question that carries pinyin terms (the second, sound-alike pass) reaches them.
FIELDS: dict[str, tuple[tuple[str, float], ...]] = {
    "title": (("text", 3.0), ("title", 1.0)),
    "lead": (("text", 3.0),),
    "keywords": (("text", 2.0),),
    "summary": (("text", 1.0),),
    "body": (("text", 1.0),),
    "title_py": (("sound", 2.0),),
    "keywords_py": (("sound", 1.0),),
}
DEFAULT_FIELD = (("text", 1.0),)
# group -> (weight, BM25 k1, BM25 b)
GROUPS: dict[str, tuple[float, float, float]] = {
    "text": (1.0, 1.2, 0.6),
    "title": (1.0, 1.2, 0.75),
    "sound": (2.0, 1.2, 0.75),
}


@dataclass(frozen=True)
class Doc:
    key: int  # the article id
    fields: dict[str, list[str]]  # field name -> its terms


class Index:
    """Immutable once built; rebuild (cheap with cached terms) and swap to change it."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.keys = np.array([d.key for d in docs], dtype=np.int64)
        self.size = len(docs)
        # One row per (document, group, term) with its weighted count: each field's distinct terms and
        # counts are listed once in Python, then repeated for each group the field counts in by numpy
        # (10,000 articles index in a couple of seconds). Term ids are given in order of first use.
        groups = list(GROUPS)
        pooled = {name: [(groups.index(g), w) for g, w in spec] for name, spec in FIELDS.items()}
        default = [(groups.index(g), w) for g, w in DEFAULT_FIELD]
        term_ids: dict[str, int] = {}
        number = term_ids.setdefault
        field_ids: list[int] = []  # the distinct terms of each (document, field), one after the other
        field_counts: list[int] = []
        chunks: list[tuple[int, int, float, int, int]] = []  # (document, group, weight, offset, length)
        self.doc_terms: list[frozenset[str]] = []
        for i, doc in enumerate(docs):
            seen: set[str] = set()
            for name, terms in doc.fields.items():
                counts = Counter(terms)
                seen.update(counts)
                offset = len(field_ids)
                field_ids += [number(t, len(term_ids)) for t in counts]
                field_counts += counts.values()
                chunks += [(i, g, w, offset, len(counts)) for g, w in pooled.get(name, default)]
            self.doc_terms.append(frozenset(seen))
        chunk_doc, chunk_group, chunk_weight, chunk_offset, chunk_length = (
            np.array(col) for col in zip(*chunks, strict=True)) if chunks else (np.zeros(0, np.int64),) * 5
        lengths = chunk_length.astype(np.int64)
        # Row r of chunk c reads field_ids[offset_c + (r - first row of c)].
        first = np.cumsum(lengths) - lengths
        at = np.arange(int(lengths.sum())) + np.repeat(chunk_offset.astype(np.int64) - first, lengths)
        doc_rows = np.repeat(chunk_doc.astype(np.int64), lengths)
        group_rows = np.repeat(chunk_group.astype(np.int64), lengths)
        term_rows = np.array(field_ids, dtype=np.int64)[at]
        tf_rows = np.repeat(chunk_weight.astype(np.float64), lengths) * np.array(field_counts, dtype=np.float64)[at]
        terms_n, groups_n, size = max(len(term_ids), 1), len(groups), max(self.size, 1)
        # Rows of one (document, term, group) add up: fields pooled in a group (sorted by document, then
        # term, then group).
        key = (doc_rows * terms_n + term_rows) * groups_n + group_rows
        cell, where = np.unique(key, return_inverse=True)
        tf = np.bincount(where, weights=tf_rows, minlength=len(cell))
        group_col = cell % groups_n
        pair_col = cell // groups_n  # document * terms_n + term
        doc_col = pair_col // terms_n
        lengths = np.bincount(group_col * size + doc_col, weights=tf, minlength=len(groups) * size)
        lengths = lengths.reshape(len(groups), size)
        avg = np.maximum(lengths.mean(axis=1, keepdims=True), 1e-9)
        scale, k1, b = (np.array(col, dtype=np.float64) for col in zip(*GROUPS.values(), strict=True))
        norm = k1[:, None] * (1 - b[:, None] + b[:, None] * lengths / avg)
        part = scale[group_col] * tf * (k1[group_col] + 1) / (tf + norm[group_col, doc_col])
        # The groups' scores add up per (document, term); those rows are already next to each other.
        starts = np.flatnonzero(np.r_[True, pair_col[1:] != pair_col[:-1]]) if len(cell) else np.zeros(0, np.int64)
        summed = np.add.reduceat(part, starts) if len(cell) else np.zeros(0)
        pair = pair_col[starts]
        doc_of = (pair // terms_n).astype(np.int32)
        term_of = pair % terms_n
        df = np.bincount(term_of, minlength=len(term_ids)).astype(np.float64)
        idf = np.log(1 + (self.size - df + 0.5) / (df + 0.5))
        self.idf = dict(zip(term_ids, idf.tolist(), strict=True))
        self.max_idf = math.log(1 + (self.size + 0.5) / 0.5)
        weights = idf[term_of] * summed
        order = np.argsort(term_of, kind="stable")
        self._docs = doc_of[order]
        self._weights = weights[order].astype(np.float32)
        bounds = np.searchsorted(term_of[order], np.arange(len(term_ids) + 1)).tolist()
        self._postings = dict(zip(term_ids, itertools.pairwise(bounds), strict=True))

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
