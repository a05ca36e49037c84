"""Read articles from Markdown files with TOML front matter or from JSON Lines, with line-numbered errors."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from content import tabular

BUNDLED = Path(__file__).parent / "articles"
FRONT_MATTER = re.compile(r"\A\+\+\+\s*\n(.*?)\n\+\+\+\s*\n?(.*)\Z", re.S)
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# One rule for every way an article comes in (file import, console form, API): longer is refused, never cut.
TITLE_MAX, SUMMARY_MAX, BODY_MAX = 60, 500, 20000
DERIVED_TITLE_MAX = 30  # a title made from untitled material's first sentence
# Where a derived title may end: a sentence end, a line break, or a space between two CJK characters
# (untitled passages often begin with a heading run into the text: "发展糯玉米是一个选择 在交通便利…").
SENTENCE_END = re.compile(r"[。！？!?；;\n]|(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
CLAUSE_END = re.compile(r"[，,、：:（(]")
SOFT_BREAK = re.compile(r"[的是和与及在对为了将把从]")  # cutting before these reads naturally
LEAD = re.compile(r"^(?:[#>*\-\s]+|[（(]?[一二三四五六七八九十\d]{1,3}[)）、.．]\s*)+")
MARKUP = re.compile(r"[*_`#>\[\]]")


@dataclass(frozen=True)
class ArticleData:
    ref: str
    title: str
    body: str
    summary: str = ""
    crops: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    months: tuple[int, ...] = ()
    keywords: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()  # how villagers would ask it; searched like keywords
    origin: str = ""
    title_derived: bool = False  # the source had no title: it was made from the text


@dataclass
class LoadReport:
    articles: list[ArticleData] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "file:line: what is wrong"

    @property
    def derived_titles(self) -> int:
        return sum(a.title_derived for a in self.articles)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in re.split(r"[,，;；、]", value) if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError(f"{name}: expected a list of strings")


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    """A text field: a string (or absent/null), at most `limit` characters; never a number or a list."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        kind = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
        raise ValueError(f"{name}: expected text, got {kind.get(type(value), type(value).__name__)}")
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ValueError(f"{name}: longer than {limit} characters ({len(text)})")
    return text


def derive_title(text: str) -> str:
    """A short title for untitled material: its first sentence, cut at a clause or word break to ≤ 30
    characters ('株两优112是作者用自选的…'). '' when the text has no words at all."""
    for line in SENTENCE_END.split(text):
        sentence = MARKUP.sub("", LEAD.sub("", line.strip())).strip(" ，,、：:")
        if sentence:
            break
    else:
        return ""
    if len(sentence) <= DERIVED_TITLE_MAX:
        return sentence
    head = sentence[: DERIVED_TITLE_MAX - 1]  # room for the ellipsis
    for pattern in (CLAUSE_END, SOFT_BREAK):
        cuts = [m.start() for m in pattern.finditer(head) if m.start() >= 10]  # never a stub of a title
        if cuts:
            return head[: cuts[-1]] + "…"
    return head + "…"


def article_from_mapping(data: dict[str, Any], origin: str, default_ref: str = "") -> ArticleData:
    """Validate one article's fields (the limits and types of the console and the API); raises
    ValueError with a plain reason."""
    title = _text(data, "title", TITLE_MAX)
    body = _text(data, "body", BODY_MAX)
    summary = _text(data, "summary", SUMMARY_MAX)
    if "\n" in title:
        raise ValueError("title: must be one line")
    if not body and not summary:
        raise ValueError("body: missing")
    # Untitled material (passages, notices) is kept: a title is made from its first sentence.
    derived = not title
    if derived:
        title = derive_title(summary or body)
        if not title:
            raise ValueError("title: missing, and the text has no sentence to make one from")
    ref = _text(data, "ref", 100) or default_ref
    if not REF.match(ref):
        raise ValueError(f"ref: expected letters, digits, '-', '_' or '.', got {ref!r}")
    months = data.get("months") or []
    if not isinstance(months, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months):
        raise ValueError("months: expected a list of integers 1-12")
    sources = data.get("sources", data.get("source"))
    return ArticleData(
        ref=ref, title=title, body=body, summary=summary,
        crops=_strings(data.get("crops"), "crops"), topics=_strings(data.get("topics"), "topics"),
        months=tuple(months), keywords=_strings(data.get("keywords"), "keywords"),
        questions=_strings(data.get("questions"), "questions"),
        sources=_strings(sources, "sources"), origin=origin, title_derived=derived,
    )


def parse_markdown(text: str, origin: str, default_ref: str) -> ArticleData:
    match = FRONT_MATTER.match(text)
    if not match:
        raise ValueError("expected TOML front matter between +++ lines at the top")
    try:
        meta = tomllib.loads(match.group(1))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"front matter is not valid TOML: {exc}") from None
    return article_from_mapping({**meta, "body": match.group(2)}, origin, default_ref)


def _content_hash_ref(row: dict[str, Any]) -> str:
    """Rows without a ref get one from their title (or, untitled, their text), so importing the file
    again updates, not duplicates."""
    title, text = row.get("title"), row.get("body") or row.get("summary")
    key = title.strip() if isinstance(title, str) and title.strip() else text if isinstance(text, str) else ""
    return "a-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def read_path(path: Path) -> LoadReport:
    """A directory of .md files, one .md file, or a .jsonl file."""
    report = LoadReport()
    if path.is_dir():
        for file in sorted(path.rglob("*.md")):
            if file.name.lower() == "readme.md":
                continue
            _read_markdown(file, report)
    elif path.suffix == ".md":
        _read_markdown(path, report)
    else:
        _read_jsonl(path, report)
    refs: dict[str, str] = {}
    unique = []
    for art in report.articles:
        if art.ref in refs:
            report.errors.append(f"{art.origin}: ref {art.ref!r} already used by {refs[art.ref]}")
            continue
        refs[art.ref] = art.origin
        unique.append(art)
    report.articles = unique
    return report


def _read_markdown(file: Path, report: LoadReport) -> None:
    try:  # UTF-8 or GB18030, as every import reads (content/tabular.py)
        report.articles.append(parse_markdown(tabular.decode_text(file.read_bytes()), file.name, file.stem))
    except ValueError as exc:
        report.errors.append(f"{file}:1: {exc}")


def _read_jsonl(path: Path, report: LoadReport) -> None:
    """One article per line, read by the reader every import uses: a bad line (not JSON, nested too
    deep, too long, another encoding, wrong field types) is reported with its number, the rest kept."""
    rows, errors = tabular.read_jsonl(path.read_bytes())
    problems = [(e.line, e.message) for e in errors]
    for line, data in rows:
        try:
            report.articles.append(article_from_mapping(data, f"{path.name}:{line}", _content_hash_ref(data)))
        except ValueError as exc:
            problems.append((line, str(exc)))
    report.errors.extend(f"{path}:{line}: {message}" for line, message in sorted(problems))
