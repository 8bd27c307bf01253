"""Errors that carry a sentence a person understands, so every caller can show them as they are."""


class RetrievalError(ValueError):
    """Base class: the message is meant for the user."""


class ArticleError(RetrievalError):
    """An article file or text that cannot be indexed (the message names the file)."""


class QuestionError(RetrievalError):
    """A question that cannot be asked (empty, too long, not text)."""


class IndexCorrupt(RetrievalError):
    """An index on disk that is missing, damaged or built for another model; it gets rebuilt."""


class ModelError(RuntimeError):
    """The bundled embedding model is missing or does not match the upstream hashes."""
