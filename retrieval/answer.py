"""Answer a question from the indexed articles by quoting and citing their own sentences, or abstain."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import QuestionError
from .store import Snapshot, Store

#: Longest question accepted, in characters (documented in the README).
MAX_QUESTION_CHARS = 2000
WEIGHTS_FILE = Path(__file__).with_name("weights.json")
#: Above this many sentences in scope, candidates come from FAISS and BM25 top lists instead of a full scan.
FULL_SCAN_LIMIT = 50_000

_WORD = re.compile(r"(?u)\b\w\w+\b")
_PRONOUN = re.compile(r"\b(he|she|it|they|him|her|his|hers|its|them|their|theirs|this|that|these|those|there|then)\b", re.I)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Monday|Tuesday|Wednesday|Thursday|Friday|"
                    r"Saturday|Sunday|century|centuries|decade|decades|year|years|months?|weeks?|days?|ago)\b", re.I)
_NUMBER = re.compile(r"(\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                     r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|percent|half)\b)", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")

FEATURES = ("dense", "bm25", "dense_ctx", "dense_par", "bm25_ctx", "overlap", "type_match", "dense_rank", "bm25_rank")


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
    text = "".join(ch if ch.isprintable() or ch in " \t" else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the article")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return text


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball stemming so 'fought' and 'fighting' style variants meet in BM25

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens (the BM25 vocabulary)."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


def question_type(question: str) -> str:
    """A coarse answer type from the question's wording: date, number, person, place or other."""
    q = question.lower()
    if re.search(r"\b(when|what year|which year|what date|what day|what month|what century|how long ago|since when)\b", q):
        return "date"
    if re.search(r"\b(how many|how much|how old|how long|how far|how large|how big|what percentage|what number|"
                 r"what percent|how often|what age|what size|how tall|how high)\b", q):
        return "number"
    if re.search(r"\b(who|whom|whose)\b", q):
        return "person"
    if re.search(r"\b(where|what country|what city|which country|which city|what state|what region)\b", q):
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


def load_weights(path: Path = WEIGHTS_FILE) -> dict[str, Any]:
    """The fitted scoring weights and abstention model (JSON, written by bench.fit)."""
    return json.loads(path.read_text(encoding="utf-8"))


class _Lexical:
    """BM25 over every sentence of one snapshot (built once per snapshot, on first use)."""

    def __init__(self, snap: Snapshot) -> None:
        import bm25s

        self.tokens = tokenize([s.text for s in snap.sentences]) if snap.sentences else []
        self.bm25 = bm25s.BM25()
        if self.tokens:
            self.bm25.index(self.tokens, show_progress=False)
        self.sets = [set(t) for t in self.tokens]
        # document frequency per token across sentences, for IDF-weighted overlap
        df: dict[str, int] = {}
        for toks in self.sets:
            for t in toks:
                df[t] = df.get(t, 0) + 1
        self.df = df
        self.n = max(1, len(self.tokens))

    def idf(self, token: str) -> float:
        return math.log(1 + self.n / (1 + self.df.get(token, 0)))

    def scores(self, qtokens: list[str]) -> np.ndarray:
        known = [t for t in qtokens if t in self.df]
        if not known or not self.tokens:
            return np.zeros(len(self.tokens), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)


class Answerer:
    """Ranks sentences by fused dense, lexical, context and answer-type evidence; decides whether to abstain."""

    def __init__(self, store: Store, *, max_citations: int = 2, weights: dict[str, Any] | None = None) -> None:
        self.store = store
        self.max_citations = max_citations
        self.weights = weights or load_weights()
        self._lex: tuple[str, _Lexical] | None = None
        self._lock = threading.Lock()

    def _lexical(self, snap: Snapshot) -> _Lexical:
        with self._lock:
            key = snap.version or str(id(snap))
            if self._lex is None or self._lex[0] != key:
                self._lex = (key, _Lexical(snap))
            return self._lex[1]

    def warm_up(self) -> None:
        """Load the model and build the lexical index now, not on the first question."""
        self.store.encoder.warm_up()
        self._lexical(self.store.snapshot)

    # ---- conversation ---------------------------------------------------------------------------
    @staticmethod
    def resolve(question: str, history: Sequence[dict[str, Any]] | None) -> str:
        """A follow-up ('How old is he?') borrows the previous question's subject for retrieval."""
        if not history:
            return question
        prev = [m.get("content") for m in history if isinstance(m, dict) and m.get("role") == "user"
                and isinstance(m.get("content"), str) and m.get("content", "").strip()]
        if not prev:
            return question
        words = _WORD.findall(question)
        content = [w for w in tokenize([question])[0]]
        if _PRONOUN.search(question) or len(content) <= 2 or len(words) <= 4:
            return f"{prev[-1].strip()} {question}"
        return question

    # ---- ranking --------------------------------------------------------------------------------
    def features(self, query: str, qvec: np.ndarray, snap: Snapshot, rows: np.ndarray) -> np.ndarray:
        """One row of FEATURES per candidate sentence (all within-scope normalisations done here)."""
        lex = self._lexical(snap)
        qtokens = tokenize([query])[0]
        qset = set(qtokens)
        vec = snap.vectors
        sents = snap.sentences
        dense_all = vec[rows] @ qvec
        bm_full = lex.scores(qtokens)
        bm = bm_full[rows]
        bmax = float(bm.max()) if len(bm) and bm.max() > 0 else 1.0
        bmn = bm / bmax
        pos = {int(r): i for i, r in enumerate(rows)}

        def neighbour(values_of_row, r: int) -> float:
            s = sents[r]
            best = 0.0
            for nr in (r - 1, r + 1):
                if 0 <= nr < len(sents) and sents[nr].article_id == s.article_id and sents[nr].paragraph == s.paragraph:
                    best = max(best, values_of_row(nr))
            return best

        def dense_of(r: int) -> float:
            i = pos.get(r)
            return float(dense_all[i]) if i is not None else float(vec[r] @ qvec)

        def bm_of(r: int) -> float:
            return float(bm_full[r]) / bmax

        qtype = question_type(query)
        idf_total = sum(lex.idf(t) for t in qset) or 1.0
        dense_rank = np.empty(len(rows)); dense_rank[np.argsort(-dense_all)] = np.arange(len(rows))
        bm_rank = np.empty(len(rows)); bm_rank[np.argsort(-bm)] = np.arange(len(rows))
        par_cache: dict[tuple[str, int], float] = {}
        out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
        for i, r in enumerate(rows):
            r = int(r)
            s = sents[r]
            key = (s.article_id, s.paragraph)
            if key not in par_cache:
                lo, hi = snap.offsets[s.article_id]
                prow = [j for j in range(lo, hi) if sents[j].paragraph == s.paragraph]
                par_cache[key] = float(np.max(vec[prow] @ qvec)) if prow else 0.0
            overlap = sum(lex.idf(t) for t in qset & lex.sets[r]) / idf_total if lex.sets else 0.0
            out[i] = (dense_all[i], bmn[i], neighbour(dense_of, r), par_cache[key], neighbour(bm_of, r), overlap,
                      type_match(qtype, s.text), 1.0 / (1.0 + dense_rank[i]), 1.0 / (1.0 + bm_rank[i]))
        return out

    def scope_rows(self, snap: Snapshot, article: str | None) -> np.ndarray:
        """Row numbers of the sentences in scope: one article's, or all."""
        if article is not None:
            if article not in snap.offsets:
                raise QuestionError(f"there is no article with id {article!r}")
            lo, hi = snap.offsets[article]
            return np.arange(lo, hi)
        return np.arange(len(snap.sentences))

    def candidates(self, query: str, qvec: np.ndarray, snap: Snapshot, article: str | None) -> np.ndarray:
        """All rows in scope when small; otherwise the union of FAISS and BM25 top lists within scope."""
        rows = self.scope_rows(snap, article)
        if len(rows) <= FULL_SCAN_LIMIT:
            return rows
        k = 256
        _, ids = snap.index.search(qvec[None, :].astype(np.float32), k if article is None else 4 * k)
        lex = self._lexical(snap)
        bm = lex.scores(tokenize([query])[0])
        top_bm = np.argpartition(-bm, k)[:k] if len(bm) > k else np.arange(len(bm))
        cand = np.unique(np.concatenate([ids[0][ids[0] >= 0], top_bm]))
        if article is not None:
            lo, hi = snap.offsets[article]
            cand = cand[(cand >= lo) & (cand < hi)]
        return cand

    def score(self, feats: np.ndarray) -> np.ndarray:
        """Linear fusion of the features with the fitted weights."""
        w = np.array([self.weights["rank"].get(f, 0.0) for f in FEATURES], dtype=np.float32)
        return feats @ w

    def abstain_probability(self, feats: np.ndarray, scores: np.ndarray) -> float:
        """Probability the article does not answer: a logistic model of the best candidate's evidence."""
        cfg = self.weights["abstain"]
        best = int(np.argmax(scores))
        x = {"top_dense": float(feats[:, 0].max()), "top_overlap": float(feats[:, FEATURES.index("overlap")].max()),
             "best_dense": float(feats[best, 0]), "best_overlap": float(feats[best, FEATURES.index("overlap")]),
             "bm25_max_raw": 0.0}
        z = cfg["bias"] + sum(cfg["coef"].get(k, 0.0) * v for k, v in x.items())
        return 1.0 / (1.0 + math.exp(-z))

    def run(self, question: Any, *, history: Sequence[dict[str, Any]] | None = None, article: str | None = None,
            k: int = 10) -> Answer:
        """Answer one question (optionally within one article) from the current index."""
        t0 = time.perf_counter()
        q = clean_question(question)
        snap = self.store.snapshot
        query = self.resolve(q, history)
        if not snap.sentences:
            return Answer(q, "No article is indexed yet, so there is nothing to answer from.", True, query=query)
        qvec = self.store.encoder.encode([query])[0]
        rows = self.candidates(query, qvec, snap, article)
        if not len(rows):
            return Answer(q, "The chosen article has no sentences to answer from.", True, query=query)
        feats = self.features(query, qvec, snap, rows)
        scores = self.score(feats)
        order = np.argsort(-scores)[:k]
        ranked = [self._cite(snap, int(rows[i]), n + 1, float(scores[i])) for n, i in enumerate(order)]
        p_abstain = self.abstain_probability(feats, scores)
        if p_abstain >= self.weights["abstain"].get("threshold", 0.5):
            text = "The article does not say. I could not find a sentence that answers this question."
            return Answer(q, text, True, [], ranked, query, (time.perf_counter() - t0) * 1000)
        cited = self.choose(ranked, snap)
        parts = [f"“{c.text}” [{c.number}]" for c in cited]
        return Answer(q, " ".join(parts), False, cited, ranked, query, (time.perf_counter() - t0) * 1000)

    def choose(self, ranked: list[Citation], snap: Snapshot) -> list[Citation]:
        """The best sentence, plus the next when it is nearly as good and adjacent (answers that span sentences)."""
        best = ranked[0]
        chosen = [Citation(**{**asdict(best), "number": 1})]
        margin = float(self.weights.get("second_margin", 0.0))
        for other in ranked[1:self.max_citations]:
            adjacent = other.article_id == best.article_id and other.paragraph == best.paragraph and \
                abs(other.start - best.start) < 2 * max(len(best.text), len(other.text))
            if margin > 0 and best.score - other.score <= margin and adjacent and other.text != best.text:
                chosen.append(Citation(**{**asdict(other), "number": len(chosen) + 1}))
        return chosen

    @staticmethod
    def _cite(snap: Snapshot, row: int, number: int, score: float) -> Citation:
        s = snap.sentences[row]
        a = snap.articles[s.article_id]
        return Citation(number, s.text, a.id, a.title, a.date, s.paragraph, s.start, s.end, round(score, 4))
