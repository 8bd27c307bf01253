"""Answer questions about articles by quoting and citing their own sentences (no web or UI imports here)."""

from __future__ import annotations

from .answer import MAX_QUESTION_CHARS, Answer, Answerer, Citation, clean_question
from .assistant import Assistant, default_assistant
from .errors import ArticleError, IndexCorrupt, ModelError, QuestionError, RetrievalError
from .ingest import Article, Paragraph, Sentence, parse_article, read_article

__all__ = ["Answer", "Answerer", "Article", "ArticleError", "Assistant", "Citation", "IndexCorrupt",
           "MAX_QUESTION_CHARS", "ModelError", "Paragraph", "QuestionError", "RetrievalError", "Sentence",
           "answer", "clean_question", "default_assistant", "parse_article", "read_article"]


def answer(question: str, *, history: list[dict] | None = None, article: str | None = None) -> Answer:
    """Answer with the process-wide assistant (the seed article unless configured otherwise)."""
    return default_assistant().answer(question, history=history, article=article)
