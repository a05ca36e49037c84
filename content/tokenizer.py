"""Cut Chinese text into search terms: jieba words + character bigrams, dialect mapped, stop words out.

Start-up is most of a process's first second, so two things are read from files in the temp directory
rather than worked out again: jieba's own cache of its dictionary (read in one piece, see _load_jieba),
and a memo of what each article's fields cut to (see Tokenizer.recording), written by the previous
process and used only when every input of the cut (these modules, the dictionaries, the libraries'
versions) is the same as it was then."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import logging
import marshal
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

import jieba
import opencc

from content.fold import fold, syllables
from content.vocab import VOCAB_FILE, Vocabulary, vocabulary

DICT_DIR = Path(__file__).parent / "dict"
CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
KEEP = re.compile(r"^[\u3400-\u9fff0-9a-z.%]+$")  # words, numbers and units; not punctuation
# What only makes an animal small after its name: 猪娃子, 鹅娃子, 羊崽子 are the animal.
DIMINUTIVE = frozenset({"子", "娃子", "娃儿", "崽子", "崽儿"})
DOUBLED = re.compile(r"^([\u4e00-\u9fff])\1的$")  # 黄黄的, 鼓鼓的: the sign itself (黄, 鼓)
NAME_PIECE = re.compile(r"^(?:[\u3400-\u9fff]|[0-9a-z]*[0-9][0-9a-z]*|[a-z])$")  # one character or a code
DIGIT = re.compile(r"[0-9]")
UNITS = frozenset("年月日天时分秒周岁代次个只头株粒穗叶片亩斤克吨米升度倍元万亿千百%℃")  # 2019年 is no name
# What the shared tokenizer's cuts of article fields are remembered in, for the next process (one file a user).
MEMO_FILE = Path(tempfile.gettempdir()) / f"nongbot-terms-{getattr(os, 'getuid', lambda: 0)()}.marshal"
HEARD_MAX = 4  # pieces a name typed by sound may span (米/猴/桃 for 猕猴桃)
PARTS = frozenset("树苗叶园果花子籽秧藤根")  # the part a crop's name ends in: kept alone, it proves no slip
RARE = 10  # jieba's count below which a whole word may still be a slip (甘子 for 柑子; 秆子 is a word)
# 「核桃树栽了七八年了 不结果」: the tree's age, not a planting question. The verb and the age are dropped.
PLANTED = frozenset(("栽", "种", "栽种", "种植", "栽上", "种上", "栽下", "种下", "养"))
AGE = re.compile(r"^[0-9一二两三四五六七八九十几]+多?(年|个月)多?$")
AGE_START = re.compile(r"^[0-9一二两三四五六七八九十几]+多?$")
DAY_WORD = 1000  # jieba's count from which 冬天, 两天, 每天 are common words (see Tokenizer._recut)
MEMO_LIMIT = 8000  # cuts kept (the bundled knowledge base needs 2,430: six fields of 405 articles)
log = logging.getLogger("nongbot.search")
# ("t" for terms or "s" for sounds, the text) -> what it cut to.
Memo = dict[tuple[str, str], tuple[str, ...]]
_RECORDING: ContextVar[Memo | None] = ContextVar("nongbot_tokenizer_recording", default=None)


@functools.lru_cache(maxsize=1 << 15)
def _sound(char: str) -> str:
    """A character's toneless pinyin, its most common reading. Character by character, not by phrase:
    the same on both sides of a match, and thousands of times faster once seen."""
    return syllables(char)[0]


@functools.lru_cache(maxsize=1 << 15)
def _toned(char: str) -> str:
    """As _sound, with the tone: two characters alike in sound and tone (板力, 板栗) are a slip far more
    often than two that only sound alike (买苗, 麦苗)."""
    from pypinyin import Style, lazy_pinyin

    return str(lazy_pinyin(char, style=Style.TONE3, errors="default", neutral_tone_with_five=True)[0])


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def _load_jieba(tk: jieba.Tokenizer) -> None:
    """jieba's own initialize(), reading its cache file in one piece: jieba's marshal.load(file) pulls the
    9 MB file through Python a few bytes at a time (0.6 s of CPU), marshal.loads of its bytes takes 0.2 s.
    The same file and the same condition as jieba's (its default dictionary trusts its cache); anything
    else, or a cache that does not load, is left to jieba, which builds and writes the cache."""
    if tk.dictionary is None and not tk.initialized:  # jieba.DEFAULT_DICT
        cache = os.path.join(tk.tmp_dir or tempfile.gettempdir(), tk.cache_file or "jieba.cache")
        try:
            with open(cache, "rb") as f:
                tk.FREQ, tk.total = marshal.loads(f.read())
            tk.initialized = True
            return
        except Exception:  # as jieba does: a missing or broken cache is rebuilt
            tk.FREQ, tk.total = {}, 0
    tk.initialize()


def fingerprint(dict_dir: Path = DICT_DIR) -> str:
    """Everything a cut may depend on: every module of content/ (this one, fold.py, vocab.py …), every file
    of the dictionaries, and the versions of Python (unicodedata, marshal), jieba, pypinyin and OpenCC.
    A memo made under another fingerprint is not used (any edit there makes the next start cut again)."""
    digest = hashlib.sha256(repr((sys.version, jieba.__version__, opencc.__version__)).encode())
    here = Path(__file__).parent
    files = {*here.glob("*.py"), *DICT_DIR.rglob("*"), *dict_dir.rglob("*"), VOCAB_FILE}
    # pypinyin's version is in its __init__.py; read, not imported (it is only needed to sound a text out).
    pinyin = importlib.util.find_spec("pypinyin")
    if pinyin is not None and pinyin.origin:
        files.add(Path(pinyin.origin))
    for path in sorted(f for f in files if f.is_file()):
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_memo(path: Path, expected: str) -> Memo:
    """The memo file's cuts when it is ours (this user's, not writable by others) and made under the same
    fingerprint; else nothing."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != getattr(os, "getuid", lambda: st.st_uid)() or st.st_mode & 0o022:
                return {}
            made_under, memo = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return memo if made_under == expected and isinstance(memo, dict) else {}


class Tokenizer:
    """Load once at start-up (about half a second, off the event loop); cutting is thread-safe.
    memo: a file of remembered cuts (see recording); only with the default vocabulary."""

    def __init__(self, vocab: Vocabulary | None = None, dict_dir: Path = DICT_DIR, memo: Path | None = None) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._memo_file = memo if vocab is None else None
        self._fingerprint = fingerprint(dict_dir) if self._memo_file is not None else ""
        self._memo: Memo = _read_memo(self._memo_file, self._fingerprint) if self._memo_file is not None else {}
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
        _load_jieba(self._jieba)
        # A file object, not a path: jieba never closes a path it opens (ResourceWarning).
        self._jieba.load_userdict(io.BytesIO("\n".join(entries).encode("utf-8")))
        # Crops, pests and diseases: the names a slip must not lose (not every dialect word: 再剪 is no 再见),
        # by each of their characters. Nothing is sounded out here: pypinyin loads only when a text needs it.
        self._names_by_char: dict[tuple[int, str], list[str]] = {}  # (length, a character) -> names
        for name in sorted({*self.vocab.crop_names(),
                            *(w for w, tag in self.tags.items() if tag in ("dis", "pest"))}):
            if 2 <= len(name) <= 5 and CJK_RUN.fullmatch(name):
                for char in set(name):
                    self._names_by_char.setdefault((len(name), char), []).append(name)

    def _heard_as(self, typed: str, toned: bool = False) -> str | None:
        """The one name (by its standard form) that sounds like `typed` and keeps a character of it: 米猴桃 →
        猕猴桃. None when none does, or when names of two different things do. `toned`: the tones too."""
        near = [n for c in set(typed) for n in self._names_by_char.get((len(typed), c), ()) if n != typed]
        if not near:
            return None
        say = _toned if toned else _sound
        sound = [say(c) for c in typed]
        alike = sorted({n for n in near if [say(c) for c in n] == sound})
        return alike[0] if alike and len({self.vocab.canonical(n) for n in alike}) == 1 else None

    def _as_heard(self, pieces: list[str]) -> list[str]:
        """Names typed by sound joined again and spelled right: 米/猴/桃 → 猕猴桃, 甘子 → 柑子, 红/知/珠 → 红蜘蛛.
        Only where jieba found no word (three single characters or more; two alike in tone as well, toward a
        crop: 板/力 → 板栗; or one word it has barely seen, toward a crop: two common characters, 买苗, are too
        often meant) and the slip keeps a character of the name; a sound two names share is never guessed."""
        out: list[str] = []
        i, n = 0, len(pieces)
        while i < n:
            piece = pieces[i]
            single = len(piece) == 1 and CJK_RUN.match(piece) is not None
            if single:  # the longest run of single characters from here, at most HEARD_MAX
                end = i + 1
                while end < min(n, i + HEARD_MAX) and len(pieces[end]) == 1 and CJK_RUN.match(pieces[end]):
                    end += 1
                name = next((found for stop in range(end, i + 2, -1)
                             if (found := self._heard_as("".join(pieces[i:stop]))) is not None), None)
                if name is None and end > i + 1:  # two characters (板/力 for 板栗): only a crop, tones and all,
                    typed = "".join(pieces[i : i + 2])  # keeping more of it than a part (离/树 is no 梨树)
                    found = self._heard_as(typed, toned=True)
                    kept = set(typed) & set(found or "")
                    name = found if found is not None and self.vocab.crop(found) and kept - PARTS else None
                if name is not None:
                    out.append(name)
                    i += len(name)
                    continue
            elif 2 <= len(piece) <= 5 and self._jieba.FREQ.get(piece, 0) < RARE and CJK_RUN.fullmatch(piece):
                name = self._heard_as(piece)
                if name is not None and self.vocab.crop(name) is not None:  # 老树 is an old tree, not 老鼠:
                    out.append(name)  # a whole word is only ever a crop's slip
                    i += 1
                    continue
            out.append(piece)
            i += 1
        return out

    def _pieces(self, text: str, heard: bool = False) -> list[str]:
        """jieba's cut of the folded text (traditional → simplified, full-width → half-width, lower case
        first); white space stays as one " " piece: it separates words and keywords. `heard`: a villager's
        text, whose names typed by sound are spelled right (articles are written right: not worth the time)."""
        pieces = [raw.strip() or " " for raw in self._jieba.lcut(fold(text), HMM=False)]
        return _without_age(self._as_heard(self._recut(pieces))) if heard else pieces

    def _recut(self, pieces: list[str]) -> list[str]:
        """Two cuts jieba gets wrong in villagers' texts. 「冬天牛就瘦」 cuts 冬/天牛 (the longhorn beetle): a day
        word and 牛 when the character before makes a common word with 天 (冬天, 两天, 每天). And 杂 typed for 咋
        (both za on a pinyin keyboard): 杂喂, 杂剪, a text ending 杂种 (咋种); 杂草 and 杂交 are cut whole."""
        out: list[str] = []
        for n, piece in enumerate(pieces):
            before = out[-1] if out else ""
            after = pieces[n + 1] if n + 1 < len(pieces) else ""
            if piece == "天牛" and len(before) == 1 and self._jieba.FREQ.get(before + "天", 0) >= DAY_WORD:
                out[-1:] = [before + "天", "牛"]
            elif piece == "杂" or (piece == "杂种" and not CJK_RUN.match(after)):
                out.extend(("咋", piece[1:]) if piece[1:] else ("咋",))
            else:
                out.append(piece)
        return out

    def words(self, text: str, heard: bool = False) -> list[str]:
        """Standard-name words of `text`, stop words and punctuation removed (`heard`: see _pieces)."""
        return self._words(self._pieces(text, heard))

    def _words(self, pieces: list[str]) -> list[str]:
        out: list[str] = []
        for n, word in enumerate(pieces):
            if not KEEP.match(word) or (word in DIMINUTIVE and n and self.vocab.crop(pieces[n - 1])):
                continue  # 猪娃子, 羊羔子, 鹅娃子: the 子 only makes the animal small
            if doubled := DOUBLED.match(word):
                word = doubled.group(1)
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

    def _remembered(self, kind: str, text: str, cut: Callable[[str], list[str]]) -> list[str]:
        key = (kind, text)
        known = self._memo.get(key)
        out = list(known) if known is not None else cut(text)
        recording = _RECORDING.get()
        if recording is not None:
            recording[key] = tuple(out)
        return out

    @contextlib.contextmanager
    def recording(self) -> Iterator[Memo]:
        """Within this block (and the threads asyncio.to_thread starts from it, which copy its context),
        every terms() and sounds() cut is also kept in the memo it yields; write it with keep()."""
        memo: Memo = {}
        token = _RECORDING.set(memo)
        try:
            yield memo
        finally:
            _RECORDING.reset(token)

    def keep(self, memo: Memo) -> bool:
        """Add `memo` to the memo file for the next process when it holds a cut the loaded one did not
        (blocking: a few MB). The file keeps the newest MEMO_LIMIT cuts (a test run's articles do not push
        out the bundled ones); this process uses them too. Never fails: without a writable temp directory
        the next start cuts again."""
        if self._memo_file is None or not memo or memo.keys() <= self._memo.keys():
            return False
        merged = {k: v for k, v in self._memo.items() if k not in memo}
        merged.update(memo)  # newest last
        if len(merged) > MEMO_LIMIT:
            merged = dict(list(merged.items())[-max(MEMO_LIMIT, len(memo)):])
        self._memo = merged
        try:
            fd, temp = tempfile.mkstemp(dir=self._memo_file.parent, prefix=self._memo_file.name)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(marshal.dumps((self._fingerprint, merged)))
                os.replace(temp, self._memo_file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            log.debug("could not write the tokenizer's memo %s: %s", self._memo_file, exc)
            return False
        return True

    def terms(self, text: str, heard: bool = False) -> list[str]:
        """Words plus the character bigrams of the (dialect-mapped) text: robust to typos and odd cuts."""
        return self._terms(text, heard) if heard else self._remembered("t", text, self._terms)

    def _terms(self, text: str, heard: bool = False) -> list[str]:
        return self.words_and_terms(text, heard)[1]

    def words_and_terms(self, text: str, heard: bool = False) -> tuple[list[str], list[str]]:
        """words() and terms() of a text from one cut (the question path needs both)."""
        pieces = self._pieces(text, heard)
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
        return words, words + bigrams + sorted(across) + self.names(pieces)

    def sounds(self, text: str, known: Callable[[str], bool] | None = None) -> list[str]:
        """Toneless pinyin syllable pairs ('yang yu', 'yu ye', …) within each stretch of words, as typed
        and as mapped to standard names: '洋玉' (a slip for 洋芋) still sounds like the 洋芋 of an
        article. With `known`, only the pairs of characters it does not know (where the spelling found
        nothing) are sounded. The space keeps them apart from every word and character pair."""
        return self._remembered("s", text, self._sounds) if known is None else self._sounds(text, known)

    def _sounds(self, text: str, known: Callable[[str], bool] | None = None) -> list[str]:
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
        return {w for w in words if self.tags.get(w) in ("dis", "pest", "kind", "gap")}


def _without_age(pieces: list[str]) -> list[str]:
    """栽/了/七八年 or 种/了/5/年 (how old the tree or herd is) cut out: it says nothing about the problem."""
    out: list[str] = []
    i = 0
    while i < len(pieces):
        if pieces[i] in PLANTED:
            j = i + 1 + (i + 1 < len(pieces) and pieces[i + 1] == "了")
            end = j + 1 if j < len(pieces) and AGE.match(pieces[j]) else 0
            if not end and j + 1 < len(pieces) and AGE_START.match(pieces[j]) and pieces[j + 1] in ("年", "个月"):
                end = j + 2
            if end:
                i = end + (end < len(pieces) and pieces[end] == "多")
                continue
        out.append(pieces[i])
        i += 1
    return out


@functools.cache
def shared() -> Tokenizer:
    """The process's tokenizer: the dictionary is loaded once however many apps or commands ask; the
    articles' cuts the last process remembered (MEMO_FILE) are used."""
    return Tokenizer(memo=MEMO_FILE)
