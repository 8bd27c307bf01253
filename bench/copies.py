"""Copies of a bench set whose articles' body paragraphs are rewritten (bench/spin.py rewords them, bench/relayout.py
cuts them into news-sized pieces): one reader and writer of the set for both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrieval.eval import load_questions

#: rewrite(article path, body paragraph index, its text, the article's questions) -> the blocks that replace it
Rewrite = Callable[[str, int, str, list[dict[str, Any]]], list[str]]


def rewrite_articles(questions_file: Path, out_dir: Path, rewrite: Rewrite, *, what: str) -> list[dict[str, Any]]:
    """Write every article of the set under out_dir (same relative paths), each body paragraph (score.py's blank-line
    blocks; the '# ' title block stays) replaced by rewrite's blocks; returns the set's questions. what: the verb for
    the error on an article that is not Markdown."""
    questions = load_questions(questions_file)
    by_article: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        by_article.setdefault(q["article"], []).append(q)
    for rel, qs in sorted(by_article.items()):
        src = (questions_file.parent / rel).read_text(encoding="utf-8")
        if not src.startswith("# "):
            raise ValueError(f"{rel}: only Markdown articles ('# Title', blank-line paragraphs) are {what}")
        blocks: list[str] = []
        body = -1
        for b in src.split("\n\n"):
            if not b.strip() or b.strip().startswith("# "):
                blocks.append(b)
                continue
            body += 1
            blocks += rewrite(rel, body, b, qs)
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n\n".join(blocks), encoding="utf-8")
    return questions


def write_questions(questions: list[dict[str, Any]], questions_file: Path, out_dir: Path) -> Path:
    """The copy's questions file (under out_dir, named as the set's own); returns its path."""
    out = out_dir / questions_file.name
    out.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return out
