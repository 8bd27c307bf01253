"""Answer a question from the indexed articles by quoting and citing their own sentences, or abstain.

Ranking is two-stage and fully vectorised per question: stage 1 scores every sentence in scope from dense and
lexical evidence (the sentence, its neighbours and its paragraph, all from the stored sentence vectors: nothing
extra is embedded per sentence); stage 2 re-scores the best few dozen with answer-type and phrase cues. Both are
logistic models fitted offline by ``bench/fit.py`` (coefficients in ``weights.json``), so a stage-2 score is the
log-odds that the sentence answers. Abstention is a third logistic model over the evidence of the whole ranking.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import lexicon
from .errors import QuestionError
from .ingest import FOLD_RISKY
from .store import EXACT_LIMIT, Snapshot, Store
from .tokens import FEATURES as TOKEN_FEATURES, TokenScorer, question_pieces, stop_mask, zscore as _zscore
from .trees import Blend

log = logging.getLogger(__name__)

#: Longest question accepted, in characters (documented in the README).
MAX_QUESTION_CHARS = 2000
#: How long a question waits for the structures of a changed library before an older snapshot answers it.
SERVE_WAIT_S = 1.0
WEIGHTS_FILE = Path(__file__).with_name("weights.json")
#: Above this many sentences in scope, candidates come from FAISS and BM25 top lists instead of a full scan: where the
#: store's search turns approximate, the only place FAISS is searched. A full scan reads every vector and sorts every
#: score: at 22,000 sentences the answer took 2.6-2.8x the question's encode and 3.9-4.3x at 49,000, against ~2x over
#: candidates. Standardised by the whole index's statistics, the candidates rank nearly as the full scan does
#: (squad-v1.1 corpus P@1 0.7770 vs 0.7777; bench/PERF.md, session 9).
FULL_SCAN_LIMIT = EXACT_LIMIT
#: Above it, the dense (FAISS) top list holds this many sentences, and the BM25 top list LEXICAL_CANDIDATES: on the
#: squad-v1.1 corpus with candidate lists instead of a full scan, 128 + 256 rank as 256 + 256 do (P@1 0.775 / R@3
#: 0.908 vs 0.776 / 0.907; full scan 0.773 / 0.907) over ~1/4 fewer stage-1 rows; 128 + 128 lost R@3 (0.906).
#: (Session 9, standardised by the index's statistics: 128 + 256 and 128 + 128 0.7770, 256 + 256 0.7777, the full
#: scan 0.7777; the lists stay, since a million sentences need the BM25 list more than 2,400 do. bench/PERF.md.)
CANDIDATES = 128
LEXICAL_CANDIDATES = 256
#: Stage 2 re-scores this many stage-1 candidates.
STAGE2_CANDIDATES = 40
#: BM25 parameters.
K1, B = 1.2, 0.75
#: Tokens cut to this many characters meet across inflections the stemmer keeps apart (oversees / overseen).
PREFIX = 5
#: Weight of the previous question's words and vector in a follow-up's query.
FOLLOW_UP_WEIGHT = 0.4
#: A follow-up inherits the conversation's subject, so it needs less support of its own: its abstention log-odds
#: are lowered by this much (short follow-ups like "How old is he?" carry almost no evidence by themselves).
FOLLOW_UP_LOGIT = 1.0

_WORD = re.compile(r"(?u)\b\w\w+\b")
_TOKEN = re.compile(r"(?u)\w+")
_PRONOUN = re.compile(r"\b(he|she|it|they|him|her|his|hers|its|them|their|theirs|this|that|these|those|there|then)\b", re.I)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Monday|Tuesday|Wednesday|Thursday|Friday|"
                    r"Saturday|Sunday|century|centuries|decade|decades|year|years|months?|weeks?|days?|ago)\b", re.I)
_NUMBER = re.compile(r"(\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                     r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|percent|half)\b)", re.I)
_ANAPHOR = re.compile(r"^\W*(this|that|these|those|it|its|he|she|they|his|her|their|such|there|then|both|"
                      r"the (latter|former|same))\b", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
_CAPWORD = re.compile(r"(?u)\b[A-Z][\w'’-]*")
_NUMTOK = re.compile(r"(?u)\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                     r"thirty|forty|fifty|hundred|thousand|million|billion|dozen)\b", re.I)

#: English function words and question words: left out of the lexical vocabulary.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing done down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while who whom whose why
will with would you your yours yourself yourselves also s t d ll m re ve isn aren wasn weren don doesn didn hasn
haven hadn won wouldn shouldn can't cannot may might must shall us let get got many much kind type
""".split())

#: Stage-1 features: computed for every sentence in scope with array operations.
STAGE1 = ("dense", "dense_z", "dense_gap", "dense_ctx", "dense_par", "dense_nb", "bm25_n", "bm25_z", "bm25_par",
          "bm25_nb", "overlap", "overlap_nb", "overlap_par", "dense_rank", "bm25_rank", "tm_date", "tm_number",
          "tm_person", "tm_place", "log_len", "dense_prev", "overlap_prev", "anaphor", "anaphor_dense_prev",
          "anaphor_overlap_prev", "overlap_rank", "par_first", "overlap_prefix")
#: Stage-2 features of the sentences read in their paragraphs (retrieval/context.py): cosine, and z-scored over the
#: shortlist. Like the word-piece features, the plain weights are fitted without them.
CONTEXT_FEATURES = ("dense_late", "dense_late_z")
#: Stage-2 features: stage 1's plus cues computed for the shortlisted sentences only.
STAGE2 = STAGE1 + ("bigram", "novel", "novel_frac", "s1_z", "novel_date", "novel_number", "novel_person",
                   "novel_place", "entity_overlap", "s1_gap") + CONTEXT_FEATURES + TOKEN_FEATURES
#: Per-question evidence the abstention model reads.
ABSTAIN = ("top_dense", "top_overlap", "coverage", "top_bm25", "best_logit", "margin", "title_overlap", "n_terms",
           "best_overlap", "best_dense", "best_tok")
FEATURES = STAGE2
#: Where the abstention model's best-candidate evidence sits among STAGE2.
_AT_OVERLAP, _AT_DENSE, _AT_TOK_CTX = STAGE2.index("overlap"), STAGE2.index("dense"), STAGE2.index("tok_ctx")
#: What an index keeps only with its word pieces (store.TOKEN_LIMIT): the plain weights rank without these.
PIECE_FEATURES = frozenset(TOKEN_FEATURES + CONTEXT_FEATURES)


@dataclass
class Citation:
    """A quoted sentence: where it is in which article, so the reader can check it in place."""

    number: int
    text: str
    article_id: str
    article_title: str
    article_date: str | None
    paragraph: int
    start: int
    end: int
    score: float


@dataclass
class Answer:
    """What every caller gets: the answer text with [n] markers, whether it abstained, and the citations."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    ranked: list[Citation] = field(default_factory=list)  # best candidates, for evaluation and display
    query: str = ""  # the question as retrieval understood it (follow-ups resolved)
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON callers."""
        return asdict(self)


def clean_question(question: Any) -> str:
    """Validate and normalise a question; QuestionError with a sentence for the user when it is unusable."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = unicodedata.normalize("NFC", question)
    if not text.isprintable():  # (the common case, all printable, needs no per-character pass)
        text = "".join(ch if ch.isprintable() or ch in " \t" else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the article")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return text


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball stemming so 'fought' and 'fighting' style variants meet

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens, in order (the lexical vocabulary)."""
    stem = _stemmer().stemWords
    out = []
    for text in texts:
        words = [w for w in _TOKEN.findall(text.lower().replace("’", "'")) if w not in STOPWORDS
                 and (len(w) > 1 or w.isdigit())]
        out.append(stem(words))
    return out


_QDATE = re.compile(r"\b(when|what year|which year|what date|what day|what month|what century|how long ago|since when|"
                    r"what decade|which century|what time|which decade)\b")
_QNUMBER = re.compile(r"\b(how many|how much|how old|how long|how far|how large|how big|what percentage|what number|"
                      r"what percent|how often|what age|what size|how tall|how high|how fast|how heavy|how deep|"
                      r"what proportion|what fraction|how wide)\b")
_QPERSON = re.compile(r"\b(who|whom|whose)\b")
_QPLACE = re.compile(r"\b(where|what country|what city|which country|which city|what state|what region|what continent|"
                     r"which state|which region|what location|what place)\b")


def _query_terms(words: Sequence[str], previous: str | None) -> dict[str, float]:
    """Answerer.query_terms of a question already tokenised (rank tokenises it once for both stages)."""
    terms = {t: 1.0 for t in words}
    if previous:
        for t in tokenize([previous])[0]:
            terms.setdefault(t, FOLLOW_UP_WEIGHT)
    return terms


def question_type(question: str) -> str:
    """A coarse answer type from the question's wording: date, number, person, place or other."""
    q = question.lower()
    if _QDATE.search(q):
        return "date"
    if _QNUMBER.search(q):
        return "number"
    if _QPERSON.search(q):
        return "person"
    if _QPLACE.search(q):
        return "place"
    return "other"


def type_match(qtype: str, sentence: str) -> float:
    """1.0 when the sentence holds the kind of thing the question asks for (a year for 'when', …)."""
    if qtype == "date":
        return 1.0 if _YEAR.search(sentence) else (0.5 if _MONTH.search(sentence) else 0.0)
    if qtype == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if qtype in ("person", "place"):
        return 1.0 if _NAME.search(sentence) else 0.0
    return 0.0


def _whole_words(pattern: re.Pattern) -> frozenset[str]:
    """The words of a pattern's \\b(word|word|...)\\b group, lowered ("days?" gives day and days)."""
    group = re.search(r"\\b\((.*)\)\\b", pattern.pattern)
    words: set[str] = set()
    for alt in group.group(1).split("|") if group else []:
        if not re.fullmatch(r"[A-Za-z]+(s\?)?", alt):
            raise ValueError(f"{alt!r} in {pattern.pattern!r} is not a plain word")
        words |= {alt[:-2].lower(), alt[:-1].lower()} if alt.endswith("s?") else {alt.lower()}
    return frozenset(words)


#: type_match's word lists as sets. _MONTH's and _NUMBER's words are letters between \b and \b, so they match a
#: whole run of word characters: a sentence has a match exactly when one of its \w+ runs, lowered, is in the set.
_MONTH_WORDS = _whole_words(_MONTH)
_NUMBER_WORDS = _whole_words(re.compile(_NUMBER.pattern.split("|", 1)[1][:-1]))  # (the words after "\d|")
_DIGIT = re.compile(r"\d")


#: A lower-cased word run that is a year ("1990s" may have been "1990S", which _YEAR does not match: such a text asks
#: _YEAR itself).
_YEAR_WORD = re.compile(r"(?:1[0-9]{3}|20[0-9]{2})s?")
#: What a word run says for type_cues, as bits.
_B_MONTH, _B_NUMBER, _B_DIGIT, _B_YEAR, _B_YEAR_S = 1, 2, 4, 8, 16


def _run_bits(word: str) -> int:
    bits = (_B_MONTH if word in _MONTH_WORDS else 0) | (_B_NUMBER if word in _NUMBER_WORDS else 0)
    if _DIGIT.search(word):
        bits |= _B_DIGIT
        if _YEAR_WORD.fullmatch(word):
            bits |= _B_YEAR_S if word.endswith("s") else _B_YEAR
    return bits


#: Texts read per batch when finding their word runs (bounds the transient per-word strings).
_TOKENIZE_BATCH = 100_000

#: Every text's \w+ runs of its lower-cased form: the distinct runs, each run's id in text order (int32) and the runs
#: per text (int64).
_Runs = tuple[list[str], np.ndarray, np.ndarray]


def _word_runs(texts: Sequence[str]) -> _Runs:
    """One scan of the texts for both the lexical tokens (_token_ids) and the answer-type cues (type_cues): each
    distinct word is looked at once instead of once per occurrence."""
    find = _TOKEN.findall
    raw: dict[str, int] = {}
    lens: list[int] = []
    parts: list[np.ndarray] = []
    for lo in range(0, len(texts), _TOKENIZE_BATCH):
        found = [find(t.lower()) for t in texts[lo:lo + _TOKENIZE_BATCH]]  # (’ and ' are not \w: no replace)
        lens.extend(map(len, found))
        flat = [w for ws in found for w in ws]
        for w in set(flat).difference(raw):
            raw[w] = len(raw)
        parts.append(np.fromiter(map(raw.__getitem__, flat), dtype=np.int32, count=len(flat)))
        del found, flat
    ids = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return list(raw), ids, np.asarray(lens, dtype=np.int64)


def type_cues(texts: Sequence[str], runs: _Runs | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """type_match("date" / "number" / "person", text) of every text, from what each distinct word run says instead of
    the case-insensitive alternations per text (which cost ~10 us a sentence: half of a 1,000,000-sentence lexical
    index); runs: the texts' _word_runs, when the caller has them."""
    n = len(texts)
    words, ids, lens = runs if runs is not None else _word_runs(texts)
    bits = np.zeros(n, np.uint8)
    nonempty = np.flatnonzero(lens > 0)
    if len(ids):
        per_word = np.fromiter(map(_run_bits, words), dtype=np.uint8, count=len(words))
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(lens, out=starts[1:])
        bits[nonempty] = np.bitwise_or.reduceat(per_word[ids], starts[nonempty])
    date = np.where(bits & _B_YEAR, 1.0, np.where(bits & _B_MONTH, 0.5, 0.0)).astype(np.float32)
    number = (bits & (_B_DIGIT | _B_NUMBER) != 0).astype(np.float32)
    for i in np.flatnonzero((bits & _B_YEAR_S != 0) & (bits & _B_YEAR == 0)).tolist():
        if _YEAR.search(texts[i]):
            date[i] = 1.0
    name = _NAME.search
    person = np.fromiter((1.0 if name(x) else 0.0 for x in texts), dtype=np.float32, count=n)
    # case folding that lower() does not do (İ's lower case is two characters): the patterns themselves
    if n and FOLD_RISKY.search("\n".join(texts)):
        for i, x in enumerate(texts):
            if FOLD_RISKY.search(x):
                date[i], number[i], person[i] = type_match("date", x), type_match("number", x), type_match("person", x)
    return date, number, person


def _cue_tokens(qtype: str, text: str) -> set[str]:
    """The tokens of a text that could be the answer to a question of this type (names, numbers, years)."""
    return set(_iter_cue_tokens(qtype, text))


def _iter_cue_tokens(qtype: str, text: str) -> Iterator[str]:
    """_cue_tokens one match at a time (repeats included), so a caller that needs any() stops at the first."""
    if qtype == "date":
        yield from (m.group(0).lower() for m in _YEAR.finditer(text))
        yield from (m.group(0).lower() for m in _MONTH.finditer(text))
    elif qtype == "number":
        yield from (m.group(0).lower() for m in _NUMTOK.finditer(text))
    elif qtype in ("person", "place", "other"):
        yield from (m.group(0).lower().rstrip("'’s") for m in _CAPWORD.finditer(text, 1))


#: Which cue vocabulary each question type reads (person, place and other share the capitalised words).
_CUE_KIND = {"date": "date", "number": "number", "person": "cap", "place": "cap", "other": "cap"}


def load_weights(path: Path = WEIGHTS_FILE) -> dict[str, Any]:
    """The fitted scoring weights and abstention model (JSON, written by bench.fit)."""
    return json.loads(path.read_text(encoding="utf-8"))


def _unit(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return (m / n).astype(np.float32)


def _paragraph_vectors(vec: np.ndarray, par: np.ndarray, npar: int) -> np.ndarray:
    """Unit sums of each paragraph's sentence vectors (par[i]: sentence i's paragraph), the sums added in row order as
    np.add.at adds them. Paragraphs are runs of rows: the sums are built one position in the paragraph at a time, and
    made unit in cache-sized chunks (1,000,000 sentences: 2.4 s against 5.2 s for np.add.at and one unit pass)."""
    starts = np.flatnonzero(np.r_[True, par[1:] != par[:-1]]) if len(par) else np.zeros(0, np.int64)
    if len(par) and len(starts) == npar and np.array_equal(par[starts], np.arange(npar)):
        counts = np.diff(np.append(starts, len(par)))
        psum = np.add(np.float32(0.0), vec[starts])  # (0 + v, as add.at's first step: -0.0 becomes 0.0)
        for j in range(1, int(counts.max())):
            longer = np.flatnonzero(counts > j)
            psum[longer] += vec[starts[longer] + j]
    else:
        psum = np.zeros((npar, vec.shape[1]), dtype=np.float32)
        np.add.at(psum, par, vec)
    return np.concatenate([_unit(psum[lo:lo + 1024]) for lo in range(0, len(psum), 1024)]) if len(psum) else psum


#: Rows per matrix-vector product on the per-question path: OpenBLAS threads larger ones, and waking its threads on a
#: busy machine costs milliseconds, far more than the product (row blocks give bit-identical results).
_DOT_BLOCK = 512


def _dot(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m @ v in blocks of rows, each small enough for OpenBLAS to run it on the calling thread."""
    if len(m) <= _DOT_BLOCK:
        return m @ v
    return np.concatenate([m[i:i + _DOT_BLOCK] @ v for i in range(0, len(m), _DOT_BLOCK)])


def _unique(a: np.ndarray) -> np.ndarray:
    """np.unique of a small integer array by sorting (np.unique's hashing costs more at a few thousand items)."""
    a = np.sort(a)
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


def _columns(cols: list[np.ndarray]) -> np.ndarray:
    """np.stack(cols, axis=1) as C-ordered float32: np.array of the list is ~4x cheaper than np.stack on short
    columns (C order keeps the feats @ weights products bit-identical)."""
    return np.ascontiguousarray(np.array(cols, dtype=np.float32).T)


def _rank_score(x: np.ndarray) -> np.ndarray:
    """1 / (1 + rank) of each value, rank 0 the largest (ties: the earlier first)."""
    r = np.empty(len(x), dtype=np.float32)
    r[np.argsort(-x, kind="stable")] = _inverse_ranks(len(x))
    return r


def _rank_score_nonneg(x: np.ndarray) -> np.ndarray:
    """_rank_score of a list with no negative value (BM25, overlap), sorting its positive values only: the zeros, most
    of a large scope, tie and so rank after them in row order (a 50,000-row scope ranks ~0.7 ms faster)."""
    pos = np.flatnonzero(x > 0)
    if len(pos) == len(x) or bool((x < 0).any()):
        return _rank_score(x)
    inv = _inverse_ranks(len(x))
    r = np.empty(len(x), dtype=np.float32)
    r[pos[np.argsort(-x[pos], kind="stable")]] = inv[:len(pos)]
    r[np.flatnonzero(~(x > 0))] = inv[len(pos):]
    return r


#: From this many rows stage 1 ranks BM25 and overlap by _rank_score_nonneg (fewer calls below it: one sort of three).
_SPARSE_RANKS = 2048


def _rank_scores(x: np.ndarray) -> np.ndarray:
    """_rank_score of each row of a 2-d array, in one sort."""
    r = np.empty(x.shape, dtype=np.float32)
    r[np.arange(len(x))[:, None], np.argsort(-x, axis=1, kind="stable")] = _inverse_ranks(x.shape[1])
    return r


@lru_cache(maxsize=64)
def _inverse_ranks(n: int) -> np.ndarray:
    """1 / (1 + r) for r = 0..n-1 in float32 (read-only, shared by every question over n rows)."""
    out = 1.0 / (1.0 + np.arange(n, dtype=np.float32))
    out.flags.writeable = False
    return out


def _token_ids(texts: Sequence[str], runs: _Runs | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """tokenize(texts) as one vocabulary and CSR arrays (vocab, indptr, ids): no per-text lists are kept, and each
    distinct word is filtered and stemmed once instead of once per occurrence (runs: the texts' _word_runs)."""
    words, raw_ids, lens = runs if runs is not None else _word_runs(texts)
    kept = [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    stems = _stemmer().stemWords(kept)
    term: dict[str, int] = {}
    stem_of = dict(zip(kept, (term.setdefault(s, len(term)) for s in stems)))
    raw_term = np.fromiter((stem_of.get(w, -1) for w in words), dtype=np.int32, count=len(words))
    ids = raw_term[raw_ids] if len(raw_ids) else np.zeros(0, np.int32)
    keep = ids >= 0
    row = np.repeat(np.arange(len(texts), dtype=np.int32), lens)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=len(texts)), out=indptr[1:])
    return list(term), indptr, ids[keep]


class _Tokens(Sequence[list[str]]):
    """Row r's tokens (tokenize's) as strings, read from the CSR ids: the index keeps no per-sentence lists."""

    def __init__(self, vocab: list[str], indptr: np.ndarray, ids: np.ndarray) -> None:
        self.vocab, self.indptr, self.ids = vocab, indptr, ids

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, r):  # type: ignore[no-untyped-def, override]
        if isinstance(r, slice):
            return [self[i] for i in range(*r.indices(len(self)))]
        v = self.vocab
        return [v[i] for i in self.ids[self.indptr[r]:self.indptr[r + 1]].tolist()]

    def length(self) -> np.ndarray:
        """Tokens per row."""
        return np.diff(self.indptr)


class _TermRows:
    """Read-only mapping term -> ascending document rows containing it (a view of _Postings' CSR arrays)."""

    def __init__(self, p: _Postings) -> None:
        self._p = p

    def get(self, t: str, default: np.ndarray | None = None) -> np.ndarray | None:
        i = self._p.term.get(t)
        return default if i is None else self._p.row[self._p.ptr[i]:self._p.ptr[i + 1]]

    def __getitem__(self, t: str) -> np.ndarray:
        got = self.get(t)
        if got is None:
            raise KeyError(t)
        return got

    def __contains__(self, t: object) -> bool:
        return t in self._p.term

    def __len__(self) -> int:
        return len(self._p.term)


class _Postings:
    """BM25 over bags of tokens, as term-major CSR arrays (per term: ascending document rows, BM25 term weights):
    scoring reads only the query terms' postings."""

    def __init__(self, bags: list[list[str]]) -> None:
        vocab: dict[str, int] = {}
        tid = [vocab.setdefault(t, len(vocab)) for bag in bags for t in bag]
        doc = np.repeat(np.arange(len(bags), dtype=np.int64), [len(b) for b in bags])
        self._build(len(bags), list(vocab), doc, np.asarray(tid, dtype=np.int64),
                    np.array([len(b) for b in bags], dtype=np.float32))

    @classmethod
    def from_ids(cls, n: int, vocab: list[str], doc: np.ndarray, tid: np.ndarray, lengths: np.ndarray) -> _Postings:
        """Postings of n documents from parallel arrays (document, term id), one entry per token occurrence."""
        self = cls.__new__(cls)
        self._build(n, vocab, doc, tid, lengths)
        return self

    def _build(self, n: int, vocab: list[str], doc: np.ndarray, tid: np.ndarray, lengths: np.ndarray) -> None:
        avg = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
        key = tid.astype(np.int64) * max(n, 1) + doc  # sorted: term-major, rows ascending
        key.sort()
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(first)
        del first
        tf = np.diff(np.append(starts, len(key))).astype(np.float32)
        key = key[starts]
        del starts
        term = (key // max(n, 1)).astype(np.int32)
        self.row = (key - term.astype(np.int64) * max(n, 1)).astype(np.int32)
        del key
        df = np.bincount(term, minlength=len(vocab))
        self.ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df, out=self.ptr[1:])
        idf = self._terms(n, vocab, df)
        idf32 = np.asarray(idf, dtype=np.float32)[term]
        del term
        lens = lengths[self.row]
        self.weight = idf32 * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lens / avg))

    def _terms(self, n: int, vocab: list[str], df: np.ndarray) -> list[float]:
        """The term and IDF tables of vocab's terms with df[i] documents each; returns every term's IDF."""
        self.n = n
        # the same float64 expression per distinct df as a per-term loop would evaluate
        udf, inv = np.unique(df, return_inverse=True)
        uidf = [math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for d in udf.tolist()]
        idf = [uidf[j] for j in inv.tolist()]
        self.term = {t: i for i, (t, d) in enumerate(zip(vocab, df.tolist())) if d}
        self.idf: dict[str, float] = {t: idf[i] for t, i in self.term.items()}
        self.rows = _TermRows(self)
        self._local = threading.local()
        return idf

    def arrays(self) -> dict[str, np.ndarray]:
        """What from_arrays needs besides n and the vocabulary (kept by lexicon.py)."""
        return {"ptr": self.ptr, "row": self.row, "weight": self.weight}

    @classmethod
    def from_arrays(cls, n: int, vocab: list[str], ptr: np.ndarray, row: np.ndarray, weight: np.ndarray
                    ) -> _Postings | None:
        """Postings kept by arrays(), or None when they do not fit n documents and this vocabulary."""
        if ptr.ndim != 1 or len(ptr) != len(vocab) + 1 or int(ptr[0]) != 0 or int(ptr[-1]) != len(row) or \
                len(weight) != len(row) or row.dtype != np.int32 or weight.dtype != np.float32 or \
                bool((ptr[1:] < ptr[:-1]).any()) or (len(row) and (int(row.min()) < 0 or int(row.max()) >= n)):
            return None
        self = cls.__new__(cls)
        self.ptr, self.row, self.weight = ptr.astype(np.int64, copy=False), row, weight
        self._terms(n, vocab, np.diff(self.ptr))
        return self

    def _postings(self, t: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Term t's rows within documents lo..hi-1 (relative to lo) and their BM25 weights."""
        i = self.term.get(t)
        if i is None:
            return None
        a, b = self.ptr[i], self.ptr[i + 1]
        rows, weight = self.row[a:b], self.weight[a:b]
        if lo or hi != self.n:  # rows are ascending: the window is one slice
            a, b = np.searchsorted(rows, np.array((lo, hi), dtype=rows.dtype))  # (same dtype: no copy of rows)
            rows, weight = rows[a:b] - lo, weight[a:b]
        return rows, weight

    def bm25(self, terms: dict[str, float], lo: int = 0, hi: int | None = None) -> np.ndarray:
        """BM25 of documents lo..hi-1 (all by default)."""
        hi = self.n if hi is None else hi
        out = np.zeros(hi - lo, dtype=np.float32)
        for t, w in terms.items():
            p = self._postings(t, lo, hi)
            if p is not None:
                out[p[0]] += w * p[1]  # rows are unique per term
        return out

    def present(self, terms: dict[str, float], idf: dict[str, float], lo: int = 0, hi: int | None = None
                ) -> np.ndarray:
        """IDF-weighted sum of the query terms each document (lo..hi-1, all by default) contains."""
        hi = self.n if hi is None else hi
        out = np.zeros(hi - lo, dtype=np.float32)
        for t, w in terms.items():
            p = self._postings(t, lo, hi)
            if p is not None:
                out[p[0]] += w * idf.get(t, 0.0)
        return out

    def bm25_present(self, terms: dict[str, float], idf: dict[str, float], lo: int = 0, hi: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """bm25() and present() of documents lo..hi-1 in one pass over the query terms' postings."""
        hi = self.n if hi is None else hi
        bm = np.zeros(hi - lo, dtype=np.float32)
        pr = np.zeros(hi - lo, dtype=np.float32)
        for t, w in terms.items():
            p = self._postings(t, lo, hi)
            if p is not None:
                bm[p[0]] += w * p[1]
                pr[p[0]] += w * idf.get(t, 0.0)
        return bm, pr

    def _at(self, t: str, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Positions in docs of the documents containing t, and t's BM25 weights there (docs in any order)."""
        i = self.term.get(t)
        if i is None or not len(docs):
            return None
        a, b = self.ptr[i], self.ptr[i + 1]
        rows = self.row[a:b]
        docs = docs.astype(rows.dtype, copy=False)  # (same dtype: no copy of rows)
        j = np.searchsorted(rows, docs)
        np.minimum(j, len(rows) - 1, out=j)
        pos = np.flatnonzero(rows[j] == docs)
        return pos, self.weight[a:b][j[pos]]

    def at(self, terms: dict[str, float], idf: dict[str, float], docs: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """bm25(terms)[docs] and present(terms, idf)[docs] in one pass over the query terms' postings (no array over
        all documents), and per term found the positions in docs of the documents containing it."""
        bm = np.zeros(len(docs), dtype=np.float32)
        pr = np.zeros(len(docs), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        docs = docs.astype(self.row.dtype, copy=False)  # once, not once per term in _at
        for t, w in terms.items():
            p = self._at(t, docs)
            if p is not None:
                bm[p[0]] += w * p[1]
                pr[p[0]] += w * idf.get(t, 0.0)
                found[t] = p[0]
        return bm, pr, found

    def top(self, terms: dict[str, float], k: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The k documents of lo..hi-1 with the highest positive BM25 (ties: lower row first), ascending; only the
        query terms' postings are read, summed in a reused per-thread buffer in the order bm25 sums them."""
        return self.top_stats(terms, k, lo, hi)[0]

    def top_stats(self, terms: dict[str, float], k: int, lo: int = 0, hi: int | None = None
                  ) -> tuple[np.ndarray, float, float]:
        """top(), with the mean and standard deviation of BM25 over all of lo..hi-1 (from the same sums)."""
        hi = self.n if hi is None else hi
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.zeros(self.n, dtype=np.float32)
        try:
            return self._top(buf, terms, k, lo, hi)
        except BaseException:
            self._local.buf = None  # possibly left with partial sums
            raise

    def _top(self, buf: np.ndarray, terms: dict[str, float], k: int, lo: int, hi: int
             ) -> tuple[np.ndarray, float, float]:
        hits = []
        for t, w in terms.items():
            p = self._postings(t, 0, self.n)
            if p is None:
                continue
            rows, weight = p
            if lo or hi != self.n:
                a, b = np.searchsorted(rows, np.array((lo, hi), dtype=rows.dtype))
                rows, weight = rows[a:b], weight[a:b]
            # (the same float32 sums as buf[rows] += ..., rows being unique per term; np.add.at's one pass is ~2x
            # faster than the gather, add and scatter of a fancy +=)
            np.add.at(buf, rows, weight if w == 1.0 else w * weight)
            hits.append(rows)
        # each touched row once, with its score, leaving the buffer zeroed: every weight is positive, so a row
        # already taken reads 0 (no sort of all the postings)
        docs_l, score_l = [], []
        for rows in hits:
            sc = buf[rows]
            new = sc > 0
            docs_l.append(rows[new])
            score_l.append(sc[new])
            buf[rows] = 0.0
        if not docs_l:
            return np.zeros(0, dtype=np.int64), 0.0, 0.0
        docs, score = np.concatenate(docs_l), np.concatenate(score_l)
        # (float32 products by BLAS: np.dot of float32 with float64 took 0.54 ms at 1M, a float64 copy 0.06 ms)
        mean, sd = _moments(float(np.add.reduce(score, dtype=np.float64)), float(score @ score), max(1, hi - lo))
        if len(docs) > k:
            kth = _kth_largest(score, k)
            above = docs[score > kth]
            tied = np.sort(docs[score == kth])
            docs = np.concatenate([above, tied[:k - len(above)]])
        docs = np.sort(docs)
        return docs.astype(np.int64), mean, sd


def _kth_largest(x: np.ndarray, k: int) -> np.floating:
    """x's k-th largest value (1 <= k <= len(x)), exactly. A strided sample's k-th largest is at most x's, so only
    the values at or above it (~k * stride of them) are partitioned: at 1,000,000 passages a question's ~35,000
    BM25 scores cost ~0.06 ms instead of ~0.3 ms for one partition of them all (bench/PERF.md, session 14)."""
    stride = int(math.sqrt(len(x) / k))
    if stride >= 2:  # (then the sample holds >= k values)
        sample = x[::stride]
        x = x[x >= -np.partition(-sample, k - 1)[k - 1]]
    return -np.partition(-x, k - 1)[k - 1]


def _moments(total: float, squares: float, n: int) -> tuple[float, float]:
    """Mean and standard deviation of n values from their sum and their sum of squares."""
    mean = total / n
    return mean, math.sqrt(max(0.0, squares / n - mean * mean))


def _zscore_by(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """x standardised by a mean and deviation of a larger population (zeros when it does not vary, as _zscore)."""
    return ((x - mean) / sd).astype(np.float32) if sd > 1e-9 else np.zeros_like(x)


def _context_sum(vec: np.ndarray, prev: np.ndarray, nxt: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Vector + half the previous + half the next sentence's in the paragraph, of rows."""
    ctx = vec[rows]
    p = prev[rows]
    q = nxt[rows]
    hp, hn = p >= 0, q >= 0
    ctx[hp] += 0.5 * vec[p[hp]]
    ctx[hn] += 0.5 * vec[q[hn]]
    return ctx


def _context_norm(vec: np.ndarray, prev: np.ndarray, nxt: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The length of each row's context vector before it is made unit (1 where it is 0, as _unit does)."""
    norm = np.linalg.norm(_context_sum(vec, prev, nxt, rows), axis=1)
    norm[norm == 0] = 1.0
    return norm.astype(np.float32)


def _read_sentences(texts: list[str], directory: Path | None, par: np.ndarray
                    ) -> tuple[lexicon.Lexicon, tuple[Path, str] | None]:
    """Each sentence's tokens and cues, and where to keep them (directory, key; None: nothing is kept). Kept in
    directory (lexicon.py) once there are lexicon.CACHE_MIN sentences, and read back from it, with the postings built
    from them, when the same sentences in the same paragraphs come again (a restart)."""
    where = None
    if directory is not None and len(texts) >= lexicon.CACHE_MIN and directory.is_dir():
        where = (directory, lexicon.key(texts, STOPWORDS, layout=par))
        kept = lexicon.load(*where, len(texts))
        if kept is not None:
            return kept, where
    runs = _word_runs(texts)  # (read once for the tokens and the answer-type cues)
    vocab, indptr, ids = _token_ids(texts, runs)
    date, number, person = type_cues(texts, runs)
    del runs
    anaphor = np.array([1.0 if _ANAPHOR.match(x) else 0.0 for x in texts], dtype=np.float32)
    return lexicon.Lexicon(vocab, indptr, ids, date, number, person, anaphor), where


def _kept_postings(lex: lexicon.Lexicon, sizes: dict[str, tuple[int, list[str]]]
                   ) -> tuple[_Postings, _Postings, _Postings] | None:
    """The sent, prefix and para postings a kept lexicon holds (sizes: name -> documents, vocabulary), or None when
    it holds none or they do not fit (then they are built again, with a warning)."""
    if lex.postings is None:
        return None
    got = []
    for name, (size, vocab) in sizes.items():
        arrays = [lex.postings.get(f"{name}_{a}") for a in ("ptr", "row", "weight")]
        p = None if any(a is None for a in arrays) else _Postings.from_arrays(size, vocab, *arrays)  # type: ignore[arg-type]
        if p is None:
            log.warning("the kept lexicon's postings do not fit these sentences; they are built again")
            return None
        got.append(p)
    return got[0], got[1], got[2]


class _Index:
    """Everything per snapshot that questions reuse: token postings, neighbours, paragraph and context vectors, cues.

    Built with array operations over a CSR layout of token ids: no per-sentence Python objects beyond the texts
    the snapshot already holds."""

    def __init__(self, snap: Snapshot, lexicon_dir: Path | None = None) -> None:
        """lexicon_dir: where the reading of a large index's sentences is kept between starts (lexicon.py)."""
        sents = snap.sentences
        n = len(sents)
        self.n = n
        texts = [s.text for s in sents]
        # paragraphs: one global id per (article, paragraph)
        pid: dict[tuple[str, int], int] = {}
        self.par = np.array([pid.setdefault((s.article_id, s.paragraph), len(pid)) for s in sents], dtype=np.int64)
        npar = len(pid)
        lex, keep_as = _read_sentences(texts, lexicon_dir, self.par)
        vocab, indptr, ids = lex.vocab, lex.indptr, lex.ids
        self.tokens = _Tokens(vocab, indptr, ids)
        lens = np.diff(indptr)
        slen = lens.astype(np.float32)
        pvocab: dict[str, int] = {}
        pre = np.fromiter((pvocab.setdefault(t[:PREFIX], len(pvocab)) for t in vocab), dtype=np.int32,
                          count=len(vocab))
        sizes = {"sent": (n, vocab), "prefix": (n, list(pvocab)), "para": (npar, vocab)}
        kept = _kept_postings(lex, sizes)
        if kept is not None:
            self.sent, self.prefix, self.para = kept
        else:
            doc = np.repeat(np.arange(n, dtype=np.int64), lens)
            self.sent = _Postings.from_ids(n, vocab, doc, ids, slen)
            self.prefix = _Postings.from_ids(n, list(pvocab), doc, pre[ids], slen)
            self.para = _Postings.from_ids(npar, vocab, self.par[doc], ids,
                                           np.bincount(self.par, weights=lens, minlength=npar).astype(np.float32))
            del doc
            if keep_as is not None:  # (a new lexicon, or one whose postings did not fit: written whole)
                postings = {f"{name}_{a}": v for name in sizes for a, v in getattr(self, name).arrays().items()}
                lexicon.save(keep_as[0], keep_as[1], replace(lex, postings=postings))
        del pre
        self.par_sent_count = np.bincount(self.par, minlength=npar) if n else np.zeros(0, np.int64)
        same_prev = np.zeros(n, dtype=bool)
        if n > 1:
            same_prev[1:] = self.par[1:] == self.par[:-1]
        self.prev = np.where(same_prev, np.arange(n) - 1, -1)
        same_next = np.zeros(n, dtype=bool)
        if n > 1:
            same_next[:-1] = same_prev[1:]
        self.next = np.where(same_next, np.arange(n) + 1, -1)
        vec = np.asarray(snap.vectors, dtype=np.float32)
        if n:
            # in cache-sized chunks (1,024 rows, 1.5 MB): 4.6x faster than 65,536-row ones, the same norms
            self.ctx_norm = np.concatenate([_context_norm(vec, self.prev, self.next, np.arange(lo, min(n, lo + 1024)))
                                            for lo in range(0, n, 1024)])
            self.parvec = _paragraph_vectors(vec, self.par, npar)
        else:
            self.ctx_norm = np.ones(0, dtype=np.float32)
            self.parvec = vec
        self.cue = {"date": lex.date, "number": lex.number, "person": lex.person, "place": lex.person}  # (place reads person's cue)
        self.anaphor = lex.anaphor
        del lex
        # the sum and second moment of every vector: the candidates path standardises dense scores over the whole
        # index with them (q.sum / n and q.M.q / n), not over its candidates
        # (summed in float64, kept in float32: a question reads 0.6 MB of it, after the encode has left it out of cache)
        self.vsum = self.vmom = None
        if n > FULL_SCAN_LIMIT:
            vsum = np.zeros(vec.shape[1], dtype=np.float64)
            vmom = np.zeros((vec.shape[1], vec.shape[1]), dtype=np.float64)
            for lo in range(0, n, 65536):
                blk = vec[lo:lo + 65536]
                vsum += blk.sum(axis=0, dtype=np.float64)
                vmom += (blk.T @ blk).astype(np.float64)
            self.vsum, self.vmom = vsum.astype(np.float32), vmom.astype(np.float32)
        self.log_len = np.log1p(slen)
        self.title_tokens = {aid: set(tokenize([a.title])[0]) for aid, a in snap.articles.items()}
        self.texts = texts
        # per-sentence stage-2 cues, filled on first use (only shortlisted sentences ever need them)
        self._cues: dict[str, dict[int, frozenset[str]]] = {"date": {}, "number": {}, "cap": {}}
        self._bigrams: dict[int, frozenset[tuple[str, str]]] = {}
        self._lower: dict[int, str] = {}
        self._scopes: dict[tuple[int, int], _Scope | None] = {}
        self._shortlists: dict[bytes, _Shortlist] = {}
        self._ranges: dict[tuple[int, int], np.ndarray] = {}

    def idf(self, t: str) -> float:
        return self.sent.idf.get(t, math.log(1.0 + (self.sent.n + 0.5) / 0.5))

    def cue_tokens(self, qtype: str, r: int) -> frozenset[str]:
        """_cue_tokens(qtype, text of row r), cached per row."""
        kind = _CUE_KIND.get(qtype)
        if kind is None:
            return frozenset()
        cache = self._cues[kind]
        got = cache.get(r)
        if got is None:
            got = cache[r] = frozenset(_cue_tokens(qtype, self.texts[r]))
        return got

    def novel_fraction(self, rows: np.ndarray, terms: set[str]) -> np.ndarray:
        """Share of each row's tokens that are not among terms (what the sentence says beyond the question)."""
        sl = self.shortlist(rows)
        asked = np.zeros(len(self.tokens.vocab), dtype=bool)  # by token id (np.isin costs more on these sizes)
        asked[[i for t in terms if (i := self.sent.term.get(t)) is not None]] = True
        same = np.bincount(sl.seg, weights=asked[sl.ids].astype(np.float64), minlength=len(rows))
        return ((sl.lens - same) / np.maximum(sl.lens, 1)).astype(np.float32)

    def shortlist(self, rows: np.ndarray) -> _Shortlist:
        """What stage 2 reads of these rows, cached per row list up to FULL_SCAN_LIMIT rows: an article's shortlist is
        often all of it, the same rows for every question (above it, shortlists seldom recur)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.n > FULL_SCAN_LIMIT:
            return _Shortlist(self, rows)
        key = rows.tobytes()
        got = self._shortlists.get(key)  # one lookup: another thread may clear the cache meanwhile
        if got is None:
            got = _Shortlist(self, rows)
            if len(self._shortlists) >= _SHORTLIST_CACHE:
                self._shortlists.clear()
            self._shortlists[key] = got
        return got

    def novel(self, qtype: str, r: int, qcues: set[str], qlow: str) -> bool:
        """Whether row r has a cue the question neither has as a cue nor mentions; above FULL_SCAN_LIMIT rows seldom
        recur, so nothing is cached and the scan stops at the first such cue."""
        if self.n > FULL_SCAN_LIMIT:
            cues: Iterator[str] | frozenset[str] = _iter_cue_tokens(qtype, self.texts[r])
        else:
            cues = self.cue_tokens(qtype, r)
        return any(c not in qcues and c not in qlow for c in cues)

    def novel_rows(self, qtype: str, sl: _Shortlist, qcues: set[str], qlow: str) -> list[float]:
        """1.0 per shortlisted row for which novel() holds, else 0.0; with cached cues each distinct cue of the rows
        is judged once (a shortlist's sentences share many), and a row only asks whether it holds a novel one."""
        if self.n > FULL_SCAN_LIMIT:
            if _CUE_KIND.get(qtype) == "cap":  # novel() inlined: the capitalised words as strings, no generators
                find, texts, out = _CAPWORD.findall, self.texts, []
                for r in sl.rows:
                    hit = 0.0
                    for w in find(texts[r], 1):
                        c = w.lower().rstrip("'’s")
                        if c not in qcues and c not in qlow:
                            hit = 1.0
                            break
                    out.append(hit)
                return out
            return [1.0 if self.novel(qtype, r, qcues, qlow) else 0.0 for r in sl.rows]
        cues, union = sl.cues(self, qtype)
        fresh = {c for c in union if c not in qcues and c not in qlow}
        return [0.0 if c.isdisjoint(fresh) else 1.0 for c in cues]

    def bigrams(self, r: int) -> frozenset[tuple[str, str]]:
        """The adjacent token pairs of row r, cached at most up to FULL_SCAN_LIMIT rows (above it, a cache would
        only grow)."""
        got = self._bigrams.get(r)
        if got is None:
            toks = self.tokens[r]
            got = frozenset(zip(toks, toks[1:]))
            if self.n <= FULL_SCAN_LIMIT:
                self._bigrams[r] = got
        return got

    def bigram_share(self, sl: _Shortlist, qbi: set[tuple[str, str]]) -> np.ndarray:
        """len(qbi & bigrams(r)) / len(qbi) for each shortlisted row r, matched on token ids instead of per-row
        string pairs: each row counts the question's distinct bigrams among its adjacent id pairs (a pair with a word
        outside the vocabulary is in no row)."""
        term, v = self.sent.term, len(self.tokens.vocab)
        q = np.array(sorted({term[a] * v + term[b] for a, b in qbi if a in term and b in term}), dtype=np.int64)
        count = np.zeros(len(sl.rows), dtype=np.int64)
        ids, seg = sl.ids, sl.seg
        if len(q) and len(ids) > 1:
            pair = ids[:-1].astype(np.int64) * v + ids[1:]
            at = np.minimum(np.searchsorted(q, pair), len(q) - 1)
            hit = np.flatnonzero((q[at] == pair) & (seg[:-1] == seg[1:]))
            if len(hit):
                key = np.unique(seg[hit] * len(q) + at[hit])  # each (row, question bigram) once
                count = np.bincount(key // len(q), minlength=len(sl.rows))
        return count / len(qbi)

    def lower(self, r: int) -> str:
        """Row r's text lower-cased, cached up to FULL_SCAN_LIMIT rows."""
        got = self._lower.get(r)
        if got is None:
            got = self.texts[r].lower()
            if self.n <= FULL_SCAN_LIMIT:
                self._lower[r] = got
        return got

    def range_rows(self, lo: int, hi: int) -> np.ndarray:
        """np.arange(lo, hi), read-only and the same array every time: scope() then knows it by identity."""
        got = self._ranges.get((lo, hi))
        if got is None:
            got = np.arange(lo, hi)
            got.flags.writeable = False
            if len(self._ranges) >= 256:
                self._ranges.clear()
            self._ranges[(lo, hi)] = got
        return got

    def scope(self, rows: np.ndarray) -> _Scope | None:
        """The cached per-scope arrays when rows are one contiguous range whose sentences' neighbours all lie
        inside it (an article, or everything); None otherwise (the general path handles any rows)."""
        n = len(rows)
        if n == 0:
            return None
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo != n:
            return None
        key = (lo, hi)
        sc = self._scopes.get(key, False)  # one lookup: another thread may clear the cache meanwhile
        if sc is False:
            sc = _Scope.make(self, lo, hi)
            if len(self._scopes) >= 256:
                self._scopes.clear()
            self._scopes[key] = sc
        if sc is None or not (rows is sc.rows or np.array_equal(rows, sc.rows)):
            return None
        return sc


#: Shortlists (row lists) whose stage-2 inputs an _Index keeps.
_SHORTLIST_CACHE = 64


class _Shortlist:
    """One row list's stage-2 inputs that do not depend on the question: token ids, bigrams, lower-cased texts and
    answer-type cues, gathered once so each question reads lists instead of calling per-row lookups."""

    def __init__(self, ix: _Index, rows: np.ndarray) -> None:
        self.rows: list[int] = rows.tolist()
        ptr = ix.tokens.indptr
        starts, lens = ptr[rows], ptr[rows + 1] - ptr[rows]
        idx = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        self.ids = ix.tokens.ids[idx]  # the rows' token ids, concatenated
        self.seg = np.repeat(np.arange(len(rows)), lens)  # each token's position in rows
        self.lens = lens
        for a in (self.ids, self.seg, self.lens):
            a.flags.writeable = False
        # above FULL_SCAN_LIMIT (nothing cached) stage 2 matches bigrams on the ids and lower-cases texts on demand
        self.cached = ix.n <= FULL_SCAN_LIMIT
        self.bigrams = [ix.bigrams(r) for r in self.rows] if self.cached else []
        self.lower = [ix.lower(r) for r in self.rows] if self.cached else []
        self._cues: dict[str, tuple[list[frozenset[str]], frozenset[str]]] = {}

    def cues(self, ix: _Index, qtype: str) -> tuple[list[frozenset[str]], frozenset[str]]:
        """Each row's answer-type cues for this question type, and all of them."""
        got = self._cues.get(qtype)
        if got is None:
            cues = [ix.cue_tokens(qtype, r) for r in self.rows]
            got = self._cues[qtype] = (cues, frozenset().union(*cues))
        return got


@dataclass
class _Scope:
    """Arrays of one contiguous, closed scope (rows lo..hi-1), relative to lo: built once, read by every question."""

    lo: int
    hi: int
    rows: np.ndarray
    has_p: np.ndarray
    has_n: np.ndarray
    prev: np.ndarray  # local index of the previous sentence in the paragraph (0 where none: masked by has_p)
    next: np.ndarray
    plo: int  # paragraph ids of the scope: plo..phi-1
    phi: int
    pars: np.ndarray  # global paragraph id per row
    par_local: np.ndarray  # pars - plo
    anaphor: np.ndarray
    log_len: np.ndarray
    par_first: np.ndarray
    cue: dict[str, np.ndarray]
    zeros: np.ndarray

    @staticmethod
    def make(ix: _Index, lo: int, hi: int) -> _Scope | None:
        prev, nxt = ix.prev[lo:hi], ix.next[lo:hi]
        has_p, has_n = prev >= 0, nxt >= 0
        if (prev[has_p] < lo).any() or (nxt[has_n] >= hi).any():
            return None
        pars = ix.par[lo:hi]
        plo, phi = int(pars.min()), int(pars.max()) + 1
        zeros = np.zeros(hi - lo, np.float32)
        zeros.flags.writeable = False
        return _Scope(lo, hi, ix.range_rows(lo, hi), has_p, has_n, np.where(has_p, prev - lo, 0),
                      np.where(has_n, nxt - lo, 0), plo, phi, pars, pars - plo, ix.anaphor[lo:hi], ix.log_len[lo:hi],
                      (~has_p).astype(np.float32), {t: c[lo:hi] for t, c in ix.cue.items()}, zeros)


@dataclass
class Ranking:
    """Everything a question's ranking produced (for the answer, abstention and the offline fit)."""

    rows: np.ndarray  # stage-2 candidates, best first
    scores: np.ndarray  # their stage-2 log-odds of answering
    feats: np.ndarray  # their STAGE2 features
    evidence: dict[str, float]  # the ABSTAIN inputs
    p_abstain: float


_LEXICAL_POOL: ThreadPoolExecutor | None = None
_LEXICAL_POOL_LOCK = threading.Lock()


def _lexical_pool() -> ThreadPoolExecutor:
    """The threads that make large scopes' BM25 top lists while the question is embedded (made on the first large
    scope only: a process that never ranks over more than FULL_SCAN_LIMIT sentences starts none)."""
    global _LEXICAL_POOL
    with _LEXICAL_POOL_LOCK:
        if _LEXICAL_POOL is None:
            _LEXICAL_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lexical-top")
        return _LEXICAL_POOL


class Answerer:
    """Ranks sentences by fused dense, lexical, context and answer-type evidence; decides whether to abstain."""

    def __init__(self, store: Store, *, max_citations: int = 2, weights: dict[str, Any] | None = None) -> None:
        self.store = store
        self.max_citations = max_citations
        self.weights = weights or load_weights()
        #: the newest snapshot whose structures are built: (key, snapshot, lexical index, word-piece scorer)
        self._built: tuple[Any, Snapshot, _Index, TokenScorer | None] | None = None
        self._builds: dict[Any, Future] = {}  # snapshot key -> its build in progress (one per snapshot)
        self._pin = threading.local()  # the structures the calling thread's current question ranks with
        self._lock = threading.Lock()
        self._set_weights()

    def _set_weights(self) -> None:
        w = self.weights
        self._w1 = np.array([w["stage1"]["coef"].get(f, 0.0) for f in STAGE1], dtype=np.float32)
        self._w2 = np.array([w["stage2"]["coef"].get(f, 0.0) for f in STAGE2], dtype=np.float32)
        self._b2 = float(w["stage2"].get("bias", 0.0))
        # for indexes that keep no word-piece vectors (above store.TOKEN_LIMIT sentences): fitted without them
        plain = w.get("stage2_plain", w["stage2"])
        self._w2_plain = np.array([0.0 if f in PIECE_FEATURES else plain["coef"].get(f, 0.0) for f in STAGE2],
                                  dtype=np.float32)
        self._b2_plain = float(plain.get("bias", 0.0))
        # boosted trees that re-order the linear stage 2's best candidates (word-piece indexes only; bench/fit.py)
        self._blend = Blend.from_json(w["stage2_blend"]) if w.get("stage2_blend") else None

    def token_scorer(self, snap: Snapshot) -> TokenScorer | None:
        """The snapshot's word-piece IDF table (built once per snapshot), or None when it keeps no pieces."""
        return self.prepare(snap)[1]

    def index(self, snap: Snapshot) -> _Index:
        """The per-snapshot structures (built once per snapshot, on first use)."""
        return self.prepare(snap)[0]

    @staticmethod
    def _key(snap: Snapshot) -> Any:
        return snap.version or id(snap)

    def prepare(self, snap: Snapshot) -> tuple[_Index, TokenScorer | None]:
        """The snapshot's lexical index and word-piece scorer, built now unless built or pinned already; callers
        asking for one snapshot at once share one build. At 1,000,000 sentences a build takes ~25 s: the mutations
        of Assistant call this before they return, and questions meanwhile rank on the previous snapshot (serving)."""
        key = self._key(snap)
        pin = getattr(self._pin, "entry", None)
        if pin is not None and pin[0] == key:
            return pin[2], pin[3]
        with self._lock:
            built = self._built
            if built is not None and built[0] == key:
                return built[2], built[3]
            fut = self._builds.get(key)
            mine = fut is None
            if mine:
                fut = self._builds[key] = Future()
        if mine:
            self._build(snap, key, fut)
        return fut.result()

    def _build(self, snap: Snapshot, key: Any, fut: Future, *, log_failure: bool = False) -> None:
        """Build the snapshot's structures into fut; they become the ones served unless a newer snapshot is."""
        try:
            ix = _Index(snap, self.store.directory)
            scorer = None
            if snap.tokens is not None and len(snap.tokens) == len(snap.sentences):
                scorer = TokenScorer(snap.tokens, len(stop_mask(self.store.encoder.tokenizer_file())))
        except BaseException as exc:
            if log_failure:  # (before the waiting question goes on: the failure is on record when it answers)
                log.exception("building the lexical index of the changed library failed; the library as it was "
                              "keeps answering")
            with self._lock:
                self._builds.pop(key, None)
            fut.set_exception(exc)
            raise
        with self._lock:
            self._builds.pop(key, None)
            current = self.store.snapshot
            if self._built is None or snap is current or self._built[1] is not current:  # (else: already stale)
                self._built = (key, snap, ix, scorer)
        fut.set_result((ix, scorer))

    def serving(self) -> Snapshot:
        """The snapshot a question is answered from: the store's, once its structures are built. A question that
        finds them missing starts their build and waits for it up to SERVE_WAIT_S (an article's take milliseconds);
        past that, and for questions asked while a build is running, an older snapshot whose structures are ready
        answers, so a large index being rebuilt after a change (~25 s at 1,000,000 sentences) stalls nobody."""
        return self._serving()[1]

    def _serving(self) -> tuple[Any, Snapshot, _Index, TokenScorer | None]:
        """serving()'s snapshot with its structures (taken together: a build finishing meanwhile cannot send the
        question to rebuild the older snapshot's)."""
        snap = self.store.snapshot
        key = self._key(snap)
        with self._lock:
            built = self._built
            if built is not None and built[0] == key:
                return built
            fut = self._builds.get(key)
            start = fut is None and built is not None
            if start:
                fut = self._builds[key] = Future()
        if built is None:  # nothing older to answer from: built (or waited for) in this thread
            return (key, snap, *self.prepare(snap))
        if not start:
            return built

        def build() -> None:
            try:
                self._build(snap, key, fut, log_failure=True)
            except Exception:  # noqa: BLE001, S110 - logged; the next question tries again
                pass

        threading.Thread(target=build, name="answerer-build", daemon=True).start()
        try:
            return (key, snap, *fut.result(timeout=SERVE_WAIT_S))
        except FutureTimeout:
            return built
        except Exception:  # noqa: BLE001 - logged by the build; the older snapshot still answers
            return built

    def prepare_if_serving(self) -> None:
        """Build the store's current snapshot's structures now, if this answerer has answered from any snapshot (a
        process that only adds articles, such as `app.py add`, does not pay for a lexical index it never reads)."""
        if self._built is not None:
            self.prepare(self.store.snapshot)

    @contextlib.contextmanager
    def pinned(self, entry: tuple[Any, Snapshot, _Index, TokenScorer | None]) -> Iterator[Snapshot]:
        """Rank with this snapshot's structures (entry: key, snapshot, index, scorer) for the whole block, whatever is
        built meanwhile."""
        before = getattr(self._pin, "entry", None)
        self._pin.entry = entry
        try:
            yield entry[1]
        finally:
            self._pin.entry = before

    def warm_up(self) -> None:
        """Load the model and build the lexical index now, not on the first question."""
        self.store.encoder.warm_up()
        self.prepare(self.store.snapshot)

    # ---- conversation ---------------------------------------------------------------------------
    @staticmethod
    def _previous(question: str, history: Sequence[dict[str, Any]] | None) -> str | None:
        """The previous user question when this one is a follow-up (a pronoun, or too short to stand alone)."""
        if not history:
            return None
        prev = [m.get("content") for m in history if isinstance(m, dict) and m.get("role") == "user"
                and isinstance(m.get("content"), str) and m.get("content", "").strip()]
        if not prev or prev[-1].strip() == question.strip():
            return None
        words = _WORD.findall(question)
        content = tokenize([question])[0]
        if _PRONOUN.search(question) or len(content) <= 2 or len(words) <= 4:
            return prev[-1].strip()
        return None

    @classmethod
    def resolve(cls, question: str, history: Sequence[dict[str, Any]] | None) -> str:
        """A follow-up ('How old is he?') borrows the previous question's subject for retrieval."""
        prev = cls._previous(question, history)
        return f"{prev} {question}" if prev else question

    @staticmethod
    def query_terms(question: str, previous: str | None = None) -> dict[str, float]:
        """Lexical query: the question's tokens (weight 1) plus a follow-up's borrowed tokens (lower weight)."""
        return _query_terms(tokenize([question])[0], previous)

    def encode_query(self, question: str, previous: str | None = None, *, pieces: bool = False
                     ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The query vector (a follow-up's is the question's blended with the previous question's, one batch), and
        with pieces=True the question's own word pieces for soft matching (from the same forward pass)."""
        texts = [question, previous] if previous else [question]
        qtok = None
        if pieces:
            v, toks = self.store.encoder.encode_tokens(texts)
            stop = stop_mask(self.store.encoder.tokenizer_file())
            qtok = question_pieces(toks, stop)
            if previous:  # a follow-up's pieces include the conversation's subject, as its lexical terms do
                ids, vecs = question_pieces(toks.rows(1, 2), stop)
                qtok = (np.concatenate([qtok[0], ids]), np.concatenate([qtok[1], vecs]))
        else:
            v = self.store.encoder.encode(texts)
        if not previous:
            return v[0], qtok
        q = (1 - FOLLOW_UP_WEIGHT) * v[0] + FOLLOW_UP_WEIGHT * v[1]
        return (q / (np.linalg.norm(q) or 1.0)).astype(np.float32), qtok

    # ---- ranking --------------------------------------------------------------------------------
    def scope_rows(self, snap: Snapshot, article: str | None) -> np.ndarray:
        """Row numbers of the sentences in scope: one article's, or all."""
        lo, hi = self._bounds(snap, article)  # (an unknown article is refused before the index is touched)
        return self.index(snap).range_rows(lo, hi)

    def candidates(self, terms: dict[str, float], qvec: np.ndarray, snap: Snapshot, article: str | None) -> np.ndarray:
        """All rows in scope when small; otherwise the union of FAISS and BM25 top lists within scope (ascending).

        The BM25 list reads only the query terms' postings and holds rows that contain a query term (ties at the
        cut go to the lower row), so no array the size of the index is made per question."""
        return self._candidates(terms, qvec, snap, article)[0]

    @staticmethod
    def _bounds(snap: Snapshot, article: str | None) -> tuple[int, int]:
        """The rows lo..hi-1 in scope: one article's, or all."""
        if article is None:
            return 0, len(snap.sentences)
        if article not in snap.offsets:
            raise QuestionError(f"there is no article with id {article!r}")
        return snap.offsets[article]

    def lexical_top(self, question: str, snap: Snapshot, *, article: str | None = None, previous: str | None = None
                    ) -> Future[tuple[np.ndarray, float, float]] | None:
        """Start the BM25 top list of a scope above FULL_SCAN_LIMIT in a worker (None for a smaller scope): it needs
        the question's words only, so it runs on the other core while the question is embedded (the encode
        releases the GIL; 1,000,000 passages: bench/PERF.md, session 12)."""
        lo, hi = self._bounds(snap, article)
        if hi - lo <= FULL_SCAN_LIMIT:
            return None
        return self._lexical_top(_query_terms(tokenize([question])[0], previous), snap, lo, hi)

    def _lexical_top(self, terms: dict[str, float], snap: Snapshot, lo: int, hi: int
                     ) -> Future[tuple[np.ndarray, float, float]]:
        sent = self.index(snap).sent  # (resolved in this thread: the snapshot it pinned)
        return _lexical_pool().submit(sent.top_stats, terms, LEXICAL_CANDIDATES, lo, hi)

    def _candidates(self, terms: dict[str, float], qvec: np.ndarray, snap: Snapshot, article: str | None,
                    lexical: Future[tuple[np.ndarray, float, float]] | None = None
                    ) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
        """candidates(), and for top lists over the whole index the mean and deviation of its dense and BM25 scores
        (stage 1 standardises the candidates' scores by them: among the candidates alone, P@1 on the squad-v1.1
        corpus fell from 0.7777 to 0.7749, and with the index's own to 0.7770; bench/PERF.md, session 9).
        lexical: the BM25 top list lexical_top started for these terms (else it is started here)."""
        lo, hi = self._bounds(snap, article)
        if hi - lo <= FULL_SCAN_LIMIT:
            return self.scope_rows(snap, article), None
        if lexical is None:
            lexical = self._lexical_top(terms, snap, lo, hi)
        k = CANDIDATES
        # FAISS releases the GIL: this thread searches while the worker finishes the BM25 top list, if it has not
        # already (run() starts it before the encode; 1,000,000 passages: ~1 ms less per answer, bench/PERF.md)
        try:
            _, ids = snap.index.search(qvec[None, :].astype(np.float32), k if article is None else 4 * k)
        finally:
            top, bmean, bsd = lexical.result()
        ix = self.index(snap)
        dense = ids[0][(ids[0] >= lo) & (ids[0] < hi)]
        stats = None
        if article is None and ix.vsum is not None:
            stats = (*_moments(float(ix.vsum @ qvec), float((ix.vmom @ qvec) @ qvec), hi - lo), bmean, bsd)
        return _unique(np.concatenate([dense.astype(np.int64), top])), stats

    def stage1(self, terms: dict[str, float], qvec: np.ndarray, qtype: str, snap: Snapshot, rows: np.ndarray,
               *, stats: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """STAGE1 features of every candidate row, and scope-wide evidence for abstention (stats: the scope's dense
        and BM25 mean and deviation, to standardise candidates by; else by their own)."""
        ix = self.index(snap)
        sc = ix.scope(rows)
        if sc is not None:
            return self._stage1_scope(terms, qvec, qtype, snap, ix, sc)
        # any rows: everything is computed for the rows, their paragraph neighbours and their paragraphs only
        n = len(rows)
        prev, nxt = ix.prev[rows], ix.next[rows]
        has_p, has_n = prev >= 0, nxt >= 0
        nb = _unique(np.concatenate([rows, prev[has_p], nxt[has_n]]))  # rows and neighbours, ascending
        at_p, at_n, at_r = np.searchsorted(nb, prev), np.searchsorted(nb, nxt), np.searchsorted(nb, rows)
        nb_dense = _dot(snap.vectors[nb], qvec)  # the one gather of sentence vectors
        dense = nb_dense[at_r]
        dmax = float(dense.max())
        dense_prev = np.where(has_p, nb_dense[at_p], 0.0)
        dense_next = np.where(has_n, nb_dense[at_n], 0.0)
        dense_nb = np.maximum(dense_prev, dense_next)
        # ctx[r] . q without the context vectors: (v + v_prev / 2 + v_next / 2) . q / |v + v_prev / 2 + v_next / 2|
        dense_ctx = (dense + 0.5 * dense_prev + 0.5 * dense_next) / ix.ctx_norm[rows]
        idf = {t: ix.idf(t) for t in terms}
        total = sum(w * idf[t] for t, w in terms.items()) or 1.0
        nb_bm, nb_ov, found = ix.sent.at(terms, idf, nb)
        nb_ov /= total
        bm = nb_bm[at_r]
        bmax = float(bm.max())
        bnorm = bmax if bmax > 0 else 1.0
        bm_nb = np.maximum(np.where(has_p, nb_bm[at_p], 0.0), np.where(has_n, nb_bm[at_n], 0.0)) / bnorm
        pars = ix.par[rows]
        upars = _unique(pars)
        at_par = np.searchsorted(upars, pars)
        u_bm, u_ov, _ = ix.para.at(terms, idf, upars)
        par_bm = u_bm[at_par]
        pbmax = float(par_bm.max())
        ov = nb_ov[at_r]
        ov_prev = np.where(has_p, nb_ov[at_p], 0.0)
        ov_nb = np.maximum(ov_prev, np.where(has_n, nb_ov[at_n], 0.0))
        ov_par = u_ov[at_par] / total
        ana = ix.anaphor[rows]
        pterms: dict[str, float] = {}
        pidf: dict[str, float] = {}
        for t, w in terms.items():
            pterms[t[:PREFIX]] = max(pterms.get(t[:PREFIX], 0.0), w)
            pidf[t[:PREFIX]] = max(pidf.get(t[:PREFIX], 0.0), idf[t])
        ov_pre = ix.prefix.at(pterms, pidf, rows)[1] / (sum(w * pidf[t] for t, w in pterms.items()) or 1.0)
        tm = {t: (ix.cue[t][rows] if qtype == t else np.zeros(n, np.float32)) for t in ("date", "number", "person", "place")}
        cols = {
            "dense": dense, "dense_z": _zscore(dense) if stats is None else _zscore_by(dense, stats[0], stats[1]),
            "dense_gap": dense - dmax, "dense_ctx": dense_ctx, "dense_par": _dot(ix.parvec[pars], qvec),
            "dense_nb": dense_nb, "bm25_n": bm / bnorm,
            "bm25_z": _zscore(bm) if stats is None else _zscore_by(bm, stats[2], stats[3]),
            "bm25_par": par_bm / (pbmax if pbmax > 0 else 1.0), "bm25_nb": bm_nb, "overlap": ov, "overlap_nb": ov_nb,
            "overlap_par": ov_par, "dense_rank": _rank_score(dense), "bm25_rank": _rank_score(bm),
            "tm_date": tm["date"], "tm_number": tm["number"], "tm_person": tm["person"], "tm_place": tm["place"],
            "log_len": ix.log_len[rows],
            "dense_prev": dense_prev, "overlap_prev": ov_prev, "anaphor": ana, "anaphor_dense_prev": ana * dense_prev,
            "anaphor_overlap_prev": ana * ov_prev, "overlap_prefix": ov_pre, "overlap_rank": _rank_score(ov), "par_first": (~has_p).astype(np.float32),
        }
        feats = _columns([cols[f] for f in STAGE1])
        # how much of the question the scope mentions at all (off-topic questions mention little of it); a
        # follow-up's borrowed words count in full here: the conversation's subject is part of what is asked
        present = 0.0
        total_full = sum(idf.values()) or 1.0
        is_row = np.zeros(len(nb), dtype=bool)
        is_row[at_r] = True
        for t in terms:
            if t in found and (n == ix.n or bool(is_row[found[t]].any())):
                present += idf[t]
        top_ov = float(ov.max())
        if any(w < 1.0 for w in terms.values()):
            top_ov = float((ix.sent.at(dict.fromkeys(terms, 1.0), idf, rows)[1] / total_full).max())
        evidence = {"top_dense": dmax, "top_overlap": top_ov, "coverage": present / total_full,
                    "top_bm25": bmax, "n_terms": math.log1p(len(terms))}
        return feats, evidence

    def _stage1_scope(self, terms: dict[str, float], qvec: np.ndarray, qtype: str, snap: Snapshot, ix: _Index,
                      sc: _Scope) -> tuple[np.ndarray, dict[str, float]]:
        """stage1 over a cached contiguous scope: the same features, computed on slices and scope-sized arrays."""
        lo, hi = sc.lo, sc.hi
        n = hi - lo
        dense = snap.vectors[lo:hi] @ qvec
        dmax = float(dense.max())
        idf = {t: ix.idf(t) for t in terms}
        total = sum(w * idf[t] for t, w in terms.items()) or 1.0
        bm, ov = ix.sent.bm25_present(terms, idf, lo, hi)
        bmax = float(bm.max())
        bnorm = bmax if bmax > 0 else 1.0
        par_bm, par_ov = ix.para.bm25_present(terms, idf, sc.plo, sc.phi)
        par_bm = par_bm[sc.par_local]
        pbmax = float(par_bm.max())
        ov = ov / total
        ov_par = par_ov[sc.par_local] / total
        # the paragraph neighbours' dense, BM25 and overlap scores, the three rows at once (fewer numpy calls)
        both = np.array([dense, bm, ov])
        prev_of = np.where(sc.has_p, both[:, sc.prev], 0.0)
        next_of = np.where(sc.has_n, both[:, sc.next], 0.0)
        nb_of = np.maximum(prev_of, next_of)
        dense_prev, ov_prev = prev_of[0], prev_of[2]
        dense_nb, bm_nb, ov_nb = nb_of[0], nb_of[1] / bnorm, nb_of[2]
        if n >= _SPARSE_RANKS:
            dense_rank, bm_rank, ov_rank = _rank_score(dense), _rank_score_nonneg(bm), _rank_score_nonneg(ov)
        else:
            dense_rank, bm_rank, ov_rank = _rank_scores(both)
        ana = sc.anaphor
        pterms: dict[str, float] = {}
        pidf: dict[str, float] = {}
        for t, w in terms.items():
            pterms[t[:PREFIX]] = max(pterms.get(t[:PREFIX], 0.0), w)
            pidf[t[:PREFIX]] = max(pidf.get(t[:PREFIX], 0.0), idf[t])
        ov_pre = ix.prefix.present(pterms, pidf, lo, hi) / (sum(w * pidf[t] for t, w in pterms.items()) or 1.0)
        tm = {t: (sc.cue[t] if qtype == t else sc.zeros) for t in ("date", "number", "person", "place")}
        # the paragraphs' and the context vectors' cosines from products already made: one product per paragraph,
        # and ctx[r] . q = (v + v_prev / 2 + v_next / 2) . q / |v + v_prev / 2 + v_next / 2| (no matrices of a row
        # each to read for every question, nor to keep)
        dense_par = (ix.parvec[sc.plo:sc.phi] @ qvec)[sc.par_local]
        dense_ctx = (dense + 0.5 * dense_prev + 0.5 * next_of[0]) / ix.ctx_norm[lo:hi]
        cols = {
            "dense": dense, "dense_z": _zscore(dense), "dense_gap": dense - dmax, "dense_ctx": dense_ctx,
            "dense_par": dense_par, "dense_nb": dense_nb, "bm25_n": bm / bnorm, "bm25_z": _zscore(bm),
            "bm25_par": par_bm / (pbmax if pbmax > 0 else 1.0), "bm25_nb": bm_nb, "overlap": ov, "overlap_nb": ov_nb,
            "overlap_par": ov_par, "dense_rank": dense_rank, "bm25_rank": bm_rank,
            "tm_date": tm["date"], "tm_number": tm["number"], "tm_person": tm["person"], "tm_place": tm["place"],
            "log_len": sc.log_len,
            "dense_prev": dense_prev, "overlap_prev": ov_prev, "anaphor": ana, "anaphor_dense_prev": ana * dense_prev,
            "anaphor_overlap_prev": ana * ov_prev, "overlap_prefix": ov_pre, "overlap_rank": ov_rank,
            "par_first": sc.par_first,
        }
        feats = _columns([cols[f] for f in STAGE1])
        present = 0.0
        total_full = sum(idf.values()) or 1.0
        full = n == ix.n
        for t in terms:
            if full:
                if t in ix.sent.term:
                    present += idf[t]
                continue
            r = ix.sent.rows.get(t)
            if r is not None and bool(np.any((r >= lo) & (r < hi))):
                present += idf[t]
        top_ov = float(ov.max())
        if any(w < 1.0 for w in terms.values()):
            top_ov = float((ix.sent.present(dict.fromkeys(terms, 1.0), idf, lo, hi) / total_full).max())
        evidence = {"top_dense": dmax, "top_overlap": top_ov, "coverage": present / total_full,
                    "top_bm25": bmax, "n_terms": math.log1p(len(terms))}
        return feats, evidence

    def stage2(self, question: str, terms: dict[str, float], qtype: str, snap: Snapshot, rows: np.ndarray,
               f1: np.ndarray, s1: np.ndarray, qtok: tuple[np.ndarray, np.ndarray] | None = None, *,
               words: Sequence[str] | None = None, qvec: np.ndarray | None = None) -> np.ndarray:
        """STAGE2 features of the shortlisted rows: stage 1's plus phrase, answer-type, context-vector and word-piece
        cues (words: the question's tokenize() tokens, when the caller has them already; qvec: its vector, for the
        context vectors' cosines)."""
        ix = self.index(snap)
        scorer = self.token_scorer(snap) if qtok is not None else None
        if scorer is not None and len(rows):
            tok = scorer.features(qtok[0], qtok[1], rows, ix.prev[rows])
        else:
            tok = np.zeros((len(rows), len(TOKEN_FEATURES)), dtype=np.float32)
        qtok = tokenize([question])[0] if words is None else words
        qbi = {(a, b) for a, b in zip(qtok, qtok[1:])}
        qset = set(terms)
        qlow = question.lower().replace("’", "'")
        qcues = _cue_tokens(qtype, question)
        qents = {m.group(0).lower() for m in _CAPWORD.finditer(question, 1)}
        extra = np.zeros((len(rows), 10 + len(CONTEXT_FEATURES)), dtype=np.float32)
        s1z = _zscore(s1)
        tcol = {"date": 4, "number": 5, "person": 6, "place": 7}.get(qtype)
        sl = ix.shortlist(rows)
        bigram: list[float] | np.ndarray = []
        if qbi:
            bigram = [len(qbi & b) / len(qbi) for b in sl.bigrams] if sl.cached else ix.bigram_share(sl, qbi)
        # a cue of the sentence that the question neither has as a cue nor mentions at all
        novel = ix.novel_rows(qtype, sl, qcues, qlow)
        ents: list[float] = []
        if qents:
            lower = sl.lower if sl.cached else [ix.texts[r].lower() for r in sl.rows]
            ents = [sum(map(low.__contains__, qents)) / len(qents) for low in lower]
        if len(rows):
            if qbi:
                extra[:, 0] = bigram
            extra[:, 1] = novel
            extra[:, 2] = ix.novel_fraction(rows, qset)
            extra[:, 3] = s1z
            if tcol is not None:
                extra[:, tcol] = novel
            if qents:
                extra[:, 8] = ents
        extra[:, 9] = s1 - s1.max()
        # the rows' cosines read in their paragraphs (retrieval/context.py); without them (no pieces kept, or an
        # index built before them) the sentence's own cosine, as the plain weights were fitted
        late = snap.tokens.context if snap.tokens is not None else None
        if len(rows):
            lv = late[rows] @ qvec if late is not None and qvec is not None else f1[:, _AT_DENSE]
            extra[:, 10] = lv
            extra[:, 11] = _zscore(lv)
        return np.concatenate([f1, extra, tok], axis=1)

    def rank(self, question: str, qvec: np.ndarray, snap: Snapshot, *, article: str | None = None,
             previous: str | None = None, qtok: tuple[np.ndarray, np.ndarray] | None = None,
             lexical: Future[tuple[np.ndarray, float, float]] | None = None) -> Ranking:
        """Rank the sentences in scope for a question whose vector is qvec (and word pieces qtok, when the
        snapshot keeps pieces: without them the plain weights rank); lexical: lexical_top() of its terms."""
        words = tokenize([question])[0]
        terms = _query_terms(words, previous)
        qtype = question_type(question)
        rows, stats = self._candidates(terms, qvec, snap, article, lexical)
        f1, ev = self.stage1(terms, qvec, qtype, snap, rows, stats=stats)
        s1 = f1 @ self._w1
        m = min(STAGE2_CANDIDATES, len(rows))
        if len(rows) > m:
            top = np.argpartition(-s1, m - 1)[:m]
            rows, f1, s1 = rows[top], f1[top], s1[top]
        scorer = self.token_scorer(snap) if qtok is not None else None
        f2 = self.stage2(question, terms, qtype, snap, rows, f1, s1, qtok if scorer else None, words=words, qvec=qvec)
        s2 = f2 @ self._w2 + self._b2 if scorer is not None else f2 @ self._w2_plain + self._b2_plain
        if scorer is not None and self._blend is not None:
            s2 = self._blend(f2, s2)
        order = np.argsort(-s2, kind="stable")
        rows2, s2, f2 = rows[order], s2[order], f2[order]
        ix = self.index(snap)
        best = int(rows2[0])
        title = ix.title_tokens.get(snap.sentences[best].article_id, set())
        idf = {t: ix.idf(t) for t in terms}
        total = sum(w * idf[t] for t, w in terms.items()) or 1.0
        ev.update(best_logit=float(s2[0]), margin=float(s2[0] - s2[1]) if len(s2) > 1 else 5.0,
                  title_overlap=sum(w * idf[t] for t, w in terms.items() if t in title) / total,
                  best_overlap=float(f2[0, _AT_OVERLAP]), best_dense=float(f2[0, _AT_DENSE]),
                  best_tok=float(f2[0, _AT_TOK_CTX]))
        p = self.abstain_probability(ev, follow_up=previous is not None, plain=scorer is None)
        return Ranking(rows2, s2, f2, ev, p)

    def abstain_config(self, *, plain: bool = False) -> dict[str, Any]:
        """The abstention model: with the word-piece evidence, or (plain) the one fitted without it."""
        return self.weights.get("abstain_plain", self.weights["abstain"]) if plain else self.weights["abstain"]

    def abstain_probability(self, evidence: dict[str, float], *, follow_up: bool = False, plain: bool = False) -> float:
        """Probability the article does not answer: a logistic model of the ranking's evidence."""
        cfg = self.abstain_config(plain=plain)
        z = cfg["bias"] + sum(c * evidence.get(k, 0.0) for k, c in cfg["coef"].items())
        if follow_up:
            z -= FOLLOW_UP_LOGIT
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def run(self, question: Any, *, history: Sequence[dict[str, Any]] | None = None, article: str | None = None,
            k: int = 10) -> Answer:
        """Answer one question (optionally within one article) from the current index."""
        t0 = time.perf_counter()
        q = clean_question(question)
        with self.pinned(self._serving()) as snap:
            return self._run(q, t0, snap, history, article, k)

    def _run(self, q: str, t0: float, snap: Snapshot, history: Sequence[dict[str, Any]] | None, article: str | None,
             k: int) -> Answer:
        previous = self._previous(q, history)
        query = f"{previous} {q}" if previous else q
        if not snap.sentences:
            return Answer(q, "No article is indexed yet, so there is nothing to answer from.", True, query=query)
        self._bounds(snap, article)  # an unknown article: a clear error before any work
        lexical = self.lexical_top(q, snap, article=article, previous=previous)  # runs beside the encode
        qvec, qtok = self.encode_query(q, previous, pieces=self.token_scorer(snap) is not None)
        rk = self.rank(q, qvec, snap, article=article, previous=previous, qtok=qtok, lexical=lexical)
        if not len(rk.rows):
            return Answer(q, "The chosen article has no sentences to answer from.", True, query=query)
        ranked = [self._cite(snap, int(r), n + 1, float(s)) for n, (r, s) in enumerate(zip(rk.rows[:k], rk.scores[:k]))]
        if rk.p_abstain >= self.abstain_config(plain=qtok is None).get("threshold", 0.5):
            text = "The article does not say. I could not find a sentence that answers this question."
            return Answer(q, text, True, [], ranked, query, (time.perf_counter() - t0) * 1000)
        cited = self.choose(ranked, snap)
        parts = [f"“{c.text}” [{c.number}]" for c in cited]
        return Answer(q, " ".join(parts), False, cited, ranked, query, (time.perf_counter() - t0) * 1000)

    def choose(self, ranked: list[Citation], snap: Snapshot) -> list[Citation]:
        """The best sentence, plus a runner-up next to it that is nearly as likely (answers spanning sentences).

        Redundant runners-up (the same words again) are skipped.
        """
        best = ranked[0]
        chosen = [replace(best, number=1)]
        margin = float(self.weights.get("second_margin", 0.0))
        if margin <= 0:
            return chosen
        best_words = set(_WORD.findall(best.text.lower()))
        for other in ranked[1:]:
            if len(chosen) >= self.max_citations or best.score - other.score > margin:
                break
            adjacent = other.article_id == best.article_id and other.paragraph == best.paragraph and \
                abs(other.start - best.start) < 2 * max(len(best.text), len(other.text))
            words = set(_WORD.findall(other.text.lower()))
            redundant = len(words & best_words) >= 0.8 * max(1, len(words))
            if adjacent and not redundant:
                chosen.append(replace(other, number=len(chosen) + 1))
        return chosen

    @staticmethod
    def _cite(snap: Snapshot, row: int, number: int, score: float) -> Citation:
        s = snap.sentences[row]
        a = snap.articles[s.article_id]
        return Citation(number, s.text, a.id, a.title, a.date, s.paragraph, s.start, s.end, round(score, 4))
