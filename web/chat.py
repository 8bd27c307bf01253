"""The Gradio chat page: ask, read the quoted answer, and check each citation inside its paragraph."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from retrieval import Answer, Assistant, RetrievalError

EXAMPLES_SEED = [
    "What is the Free Russia Legion?",
    "What call sign does the Russian fighter use?",
    "How old is he?",
    "Who oversees the legion?",
]

CSS = """
.evidence .cite { border-left: 3px solid var(--color-accent); padding: 4px 10px; margin: 8px 0; }
.evidence .cite-head { font-size: 0.85em; opacity: 0.8; margin-bottom: 4px; }
.evidence mark { background: #fff3a0; color: inherit; padding: 0 2px; border-radius: 2px; }
"""


def answer_markdown(ans: Answer) -> str:
    """The chat message: the quoted sentences with [n] markers, then the sources; article text escaped."""
    if ans.abstained:
        return html.escape(ans.text)
    lines = [html.escape(ans.text), ""]
    for c in ans.citations:
        date = f", {c.article_date}" if c.article_date else ""
        lines.append(f"[{c.number}] {html.escape(c.article_title)}{html.escape(date)}, paragraph {c.paragraph + 1}")
    return "\n".join(lines)


def evidence_html(assistant: Assistant, ans: Answer) -> str:
    """Each cited sentence highlighted inside its paragraph, every piece of article text escaped."""
    if ans.abstained or not ans.citations:
        return "<div class='evidence'><p>No citation: the article does not answer this question.</p></div>"
    parts = ["<div class='evidence'>"]
    for c in ans.citations:
        art = assistant.article(c.article_id)
        para = art.paragraphs[c.paragraph]
        lo, hi = c.start - para.start, c.end - para.start
        body = (html.escape(para.text[:lo]) + f"<mark data-cite='{c.number}'>" + html.escape(para.text[lo:hi])
                + "</mark>" + html.escape(para.text[hi:]))
        date = f" ({html.escape(c.article_date)})" if c.article_date else ""
        parts.append(f"<div class='cite' id='cite-{c.number}'><div class='cite-head'>[{c.number}] "
                     f"{html.escape(c.article_title)}{date}, paragraph {c.paragraph + 1}</div><p>{body}</p></div>")
    parts.append("</div>")
    return "".join(parts)


def build_chat(assistant: Assistant) -> gr.Blocks:
    """The Blocks app; its submit event is the public `ask` endpoint (usable with gradio_client)."""
    titles = ", ".join(f"“{a['title']}”" for a in assistant.articles()) or "no article yet"
    seed_like = any("Free Russia Legion" in a["title"] for a in assistant.articles())

    def ask(question: str, history: list[dict[str, Any]] | None) -> tuple[str, list[dict[str, Any]], str]:
        """Answer one question in the conversation; returns (cleared box, new history, evidence HTML)."""
        history = list(history or [])
        prior = [{"role": m.get("role"), "content": _plain(m.get("content"))} for m in history if isinstance(m, dict)]
        try:
            ans = assistant.answer(question, history=prior)
        except RetrievalError as exc:
            msg = f"⚠️ {exc}"
            return question if isinstance(question, str) else "", history + [
                {"role": "user", "content": html.escape(str(question)[:200])},
                {"role": "assistant", "content": html.escape(msg)}], ""
        history += [{"role": "user", "content": html.escape(ans.question)},
                    {"role": "assistant", "content": answer_markdown(ans)}]
        return "", history, evidence_html(assistant, ans)

    with gr.Blocks(title="Ask the article") as demo:
        gr.Markdown(f"### Ask the article\nAnswers quote the article's own sentences. Articles: {html.escape(titles)}")
        chatbot = gr.Chatbot(label="Conversation", height=380, render_markdown=True, sanitize_html=True,
                             feedback_options=None)
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question about the article…", show_label=False, scale=8,
                             max_length=4000, elem_id="question")
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        evidence = gr.HTML(label="Citations in context", elem_id="evidence")
        clear = gr.Button("Clear conversation", elem_id="clear")
        if seed_like:
            gr.Examples(examples=[[q] for q in EXAMPLES_SEED], inputs=[box], label="Example questions")
        send.click(ask, [box, chatbot], [box, chatbot, evidence], api_name="ask")
        box.submit(ask, [box, chatbot], [box, chatbot, evidence], api_name=False)
        clear.click(lambda: ("", [], ""), None, [box, chatbot, evidence], api_name=False)
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
