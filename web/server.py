"""One ASGI app: the JSON API routes first, then the Gradio chat mounted at the root."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from retrieval import Assistant

from .chat import CSS, build_chat

#: Chat events that may run at once; more wait in the queue (up to QUEUE_SIZE, then "busy").
CONCURRENCY = 4
QUEUE_SIZE = 64


def build_app(assistant: Assistant) -> FastAPI:
    """The FastAPI app serving the chat page at / (API routes are declared before the mount)."""
    api = FastAPI(title="Ask the article", docs_url="/docs", redoc_url=None)
    demo = build_chat(assistant)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return gr.mount_gradio_app(api, demo, path="/", css=CSS, footer_links=["api"])
