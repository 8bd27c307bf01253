"""The Gradio chat page: ask, read the quoted answer, and check each citation inside its paragraph."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from retrieval import Answer, Assistant, RetrievalError
from retrieval.ingest import MAX_ARTICLE_BYTES, MAX_DOCUMENT_BYTES, SUPPORTED_SUFFIXES

#: The article choice meaning "every article" (the default of the `ask` endpoint's third input).
ALL = "all"
ALL_LABEL = "All articles"

EXAMPLES_SEED = [
    "What is the Free Russia Legion?",
    "Who is Caesar?",
    "How old is he?",
    "What checks do applicants go through?",
]

CSS = """
.evidence .cite { border-left: 3px solid var(--color-accent); padding: 4px 10px; margin: 8px 0; }
.evidence .cite-head { font-size: 0.85em; opacity: 0.8; margin-bottom: 4px; }
.evidence mark { background: #fff3a0; color: inherit; padding: 0 2px; border-radius: 2px; }
"""


def _source_name(title: str, aid: str, shared: set[str] | None) -> str:
    """An article's title, with its id when another article has the same title."""
    return f"{title} [{aid}]" if shared and title in shared else title


def shared_titles(assistant: Assistant) -> set[str]:
    """Titles held by more than one article (their citations also show the id)."""
    seen: dict[str, int] = {}
    for a in assistant.articles():
        seen[a["title"]] = seen.get(a["title"], 0) + 1
    return {t for t, n in seen.items() if n > 1}


def answer_markdown(ans: Answer, shared: set[str] | None = None) -> str:
    """The chat message: the quoted sentences with [n] markers, then the sources (article title, date, paragraph);
    article text escaped."""
    if ans.abstained:
        return html.escape(ans.text)
    lines = [html.escape(ans.text), ""]
    for c in ans.citations:
        date = f", {c.article_date}" if c.article_date else ""
        name = _source_name(c.article_title, c.article_id, shared)
        lines.append(f"[{c.number}] {html.escape(name)}{html.escape(date)}, paragraph {c.paragraph + 1}")
    return "\n".join(lines)


def article_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """(label, id) for the article picker: "All articles", then each article as 'Title (date)'."""
    shared = shared_titles(assistant)
    out = [(ALL_LABEL, ALL)]
    for a in assistant.articles():
        label = _source_name(a["title"], a["id"], shared) + (f" ({a['date']})" if a.get("date") else "")
        out.append((label, a["id"]))
    return out


def library_summary(assistant: Assistant) -> str:
    arts = assistant.articles()
    if not arts:
        return "### Ask the article\nNo article yet: upload or paste one below."
    titles = ", ".join(f"“{a['title']}”" for a in arts)
    return (f"### Ask the article\nAnswers quote the articles' own sentences. {len(arts)} article(s): "
            f"{html.escape(titles)}")


def evidence_html(assistant: Assistant, ans: Answer) -> str:
    """Each cited sentence highlighted inside its paragraph, every piece of article text escaped."""
    if ans.abstained or not ans.citations:
        return "<div class='evidence'><p>No citation: the article does not answer this question.</p></div>"
    shared = shared_titles(assistant)
    parts = ["<div class='evidence'>"]
    for c in ans.citations:
        try:
            art = assistant.article(c.article_id)
        except RetrievalError:  # removed since the answer was made
            continue
        para = art.paragraphs[c.paragraph]
        lo, hi = c.start - para.start, c.end - para.start
        body = (html.escape(para.text[:lo]) + f"<mark data-cite='{c.number}'>" + html.escape(para.text[lo:hi])
                + "</mark>" + html.escape(para.text[hi:]))
        date = f" ({html.escape(c.article_date)})" if c.article_date else ""
        parts.append(f"<div class='cite' id='cite-{c.number}'><div class='cite-head'>[{c.number}] "
                     f"{html.escape(_source_name(c.article_title, c.article_id, shared))}{date}, "
                     f"paragraph {c.paragraph + 1}</div><p>{body}</p></div>")
    parts.append("</div>")
    return "".join(parts)


def build_chat(assistant: Assistant) -> gr.Blocks:
    """The Blocks app; its submit event is the public `ask` endpoint (usable with gradio_client):
    ask(question, history, article="all") -> (cleared box, history, evidence HTML)."""
    seed_like = any("Free Russia Legion" in a["title"] for a in assistant.articles())

    def ask(question: str, history: list[dict[str, Any]] | None,
            article: str | None = ALL) -> tuple[str, list[dict[str, Any]], str]:
        """Answer one question in the conversation, about one article (its id) or all ("all");
        returns (cleared box, new history, evidence HTML)."""
        history = list(history or [])
        prior = [{"role": m.get("role"), "content": _plain(m.get("content"))} for m in history if isinstance(m, dict)]
        scope = None if not article or article == ALL else str(article)
        try:
            ans = assistant.answer(question, history=prior, article=scope)
        except RetrievalError as exc:
            msg = f"⚠️ {exc}"
            return question if isinstance(question, str) else "", history + [
                {"role": "user", "content": html.escape(str(question)[:200])},
                {"role": "assistant", "content": html.escape(msg)}], ""
        history += [{"role": "user", "content": html.escape(ans.question)},
                    {"role": "assistant", "content": answer_markdown(ans, shared_titles(assistant))}]
        return "", history, evidence_html(assistant, ans)

    def refreshed(selected: str | None = ALL, note: str = "") -> tuple[Any, str, str]:
        choices = article_choices(assistant)
        ids = {v for _, v in choices}
        value = selected if selected in ids else ALL
        return gr.Dropdown(choices=choices, value=value), library_summary(assistant), note

    def _progress_fn(progress: gr.Progress, name: str):  # type: ignore[no-untyped-def]
        def fn(done: int, total: int) -> None:
            progress(done / total if total else 1.0, desc=f"Indexing {name}: {done}/{total} sentences")
        return fn

    def _status(lines: list[tuple[str, str]]) -> str:
        return "".join(f"<p class='article-{kind}'>{html.escape(text)}</p>" for kind, text in lines)

    def add_files(files: Any, selected: str | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, str, str, Any]:
        """Index uploaded files one by one, with progress; a refused file is reported by name."""
        paths = [files] if isinstance(files, (str, Path)) else list(files or [])
        lines: list[tuple[str, str]] = []
        last = selected
        for f in paths:
            path = Path(getattr(f, "name", f))
            name = path.name
            progress(0, desc=f"Reading {name}")
            try:
                if path.stat().st_size > MAX_DOCUMENT_BYTES:
                    raise RetrievalError(f"{name}: the file is over the {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB limit")
                art, rep = assistant.add_bytes(path.read_bytes(), name, progress=_progress_fn(progress, name))
            except (RetrievalError, OSError) as exc:
                lines.append(("error", f"Not added: {exc}"))
                continue
            verb = "Already indexed" if rep.unchanged else "Added"
            lines.append(("ok", f"{verb}: “{art.title}”{f' ({art.date})' if art.date else ''} — "
                                f"{len(art.sentences)} sentences, id {art.id}"))
            last = art.id
        if not lines:
            lines.append(("error", "Choose a file first (.txt, .md, .html or .pdf)."))
        return (*refreshed(last, _status(lines)), None)

    def add_pasted(text: str, title: str, selected: str | None,
                   progress: gr.Progress = gr.Progress()) -> tuple[Any, str, str, str, str]:
        """Index pasted text (the title is optional: a short first line is taken as the title)."""
        progress(0, desc="Reading the pasted text")
        try:
            art, rep = assistant.add_text(text or "", title=title or None, progress=_progress_fn(progress, "the text"))
        except RetrievalError as exc:
            return (*refreshed(selected, _status([("error", f"Not added: {exc}")])), text, title)
        verb = "Already indexed" if rep.unchanged else "Added"
        note = _status([("ok", f"{verb}: “{art.title}”{f' ({art.date})' if art.date else ''} — "
                               f"{len(art.sentences)} sentences, id {art.id}")])
        return (*refreshed(art.id, note), "", "")

    def remove_selected(selected: str | None) -> tuple[Any, str, str]:
        if not selected or selected == ALL:
            return refreshed(selected, _status([("error", "Choose one article in the list to remove it.")]))
        try:
            title = assistant.article(selected).title
        except RetrievalError:
            title = selected
        if assistant.remove(selected):
            return refreshed(ALL, _status([("ok", f"Removed “{title}” (id {selected}).")]))
        return refreshed(ALL, _status([("error", f"There is no article with id {selected!r}.")]))

    exts = ", ".join(SUPPORTED_SUFFIXES)
    with gr.Blocks(title="Ask the article") as demo:
        header = gr.Markdown(library_summary(assistant), elem_id="library-summary")
        with gr.Row():
            # allow_custom_value: an API client may name an article added after this page was built (ask checks it)
            picker = gr.Dropdown(choices=article_choices(assistant), value=ALL, label="Ask about", scale=4,
                                 elem_id="article-picker", interactive=True, allow_custom_value=True)
            remove = gr.Button("Remove this article", variant="stop", scale=1, elem_id="remove-article")
        chatbot = gr.Chatbot(label="Conversation", height=380, render_markdown=True, sanitize_html=True,
                             feedback_options=None)
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False, scale=8,
                             max_length=4000, elem_id="question")
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        evidence = gr.HTML(label="Citations in context", elem_id="evidence")
        clear = gr.Button("Clear conversation", elem_id="clear")
        if seed_like:
            gr.Examples(examples=[[q] for q in EXAMPLES_SEED], inputs=[box], label="Example questions")
        with gr.Accordion("Add an article", open=False, elem_id="add-article"):
            status = gr.HTML(elem_id="article-status")
            with gr.Tab("Upload a file"):
                upload = gr.File(label=f"Article file ({exts}; text up to {MAX_ARTICLE_BYTES // (1024 * 1024)} MiB)",
                                 file_types=list(SUPPORTED_SUFFIXES), file_count="multiple", type="filepath",
                                 elem_id="article-file")
                add_file = gr.Button("Add the file(s)", elem_id="add-file")
            with gr.Tab("Paste text"):
                paste_title = gr.Textbox(label="Title (optional)", max_length=300, elem_id="paste-title")
                paste = gr.Textbox(label="Article text (plain text, Markdown or HTML)", lines=8,
                                   max_length=MAX_ARTICLE_BYTES, elem_id="paste-text")
                add_paste = gr.Button("Add the text", elem_id="add-text")
        send.click(ask, [box, chatbot, picker], [box, chatbot, evidence], api_name="ask")
        box.submit(ask, [box, chatbot, picker], [box, chatbot, evidence], api_name=False)
        clear.click(lambda: ("", [], ""), None, [box, chatbot, evidence], api_name=False)
        add_file.click(add_files, [upload, picker], [picker, header, status, upload], api_name=False,
                       concurrency_limit=1, concurrency_id="indexing")
        add_paste.click(add_pasted, [paste, paste_title, picker], [picker, header, status, paste, paste_title],
                        api_name=False, concurrency_limit=1, concurrency_id="indexing")
        remove.click(remove_selected, [picker], [picker, header, status], api_name=False,
                     concurrency_limit=1, concurrency_id="indexing")
        demo.load(lambda sel: refreshed(sel)[:2], [picker], [picker, header], api_name=False)
    return demo


def _plain(content: Any) -> str:
    """Message text back from a chat history entry (Gradio may hand back a list of parts)."""
    if isinstance(content, str):
        return html.unescape(content)
    if isinstance(content, list):
        return " ".join(_plain(c.get("text", "") if isinstance(c, dict) else c) for c in content)
    if isinstance(content, dict):
        return _plain(content.get("text", ""))
    return ""
