"""Entry point: serve the chat on the seed article (or the given articles) at http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from retrieval import RetrievalError
from retrieval.assistant import DEFAULT_INDEX_DIR, Assistant


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Ask questions about an article; answers quote and cite its sentences.")
    p.add_argument("--article", action="append", metavar="PATH",
                   help="article file to serve (repeatable); default: the bundled seed article")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--index-dir", default=str(DEFAULT_INDEX_DIR), help="where built indexes live (default index/)")
    p.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="origin (scheme://host[:port]) whose pages may embed the widget and call the API from a "
                        "browser (repeatable; '*' = any); default: $ASK_ALLOW_ORIGINS, else only this server's pages")
    p.add_argument("--rate-limit", type=int, metavar="N",
                   help="questions per minute per client address on /api/ask (0 = no limit); "
                        "default: $ASK_RATE_LIMIT, else 30; clients on this machine are exempt")
    p.add_argument("--rate-limit-localhost", action="store_true",
                   help="apply the rate limit to clients on this machine (loopback) too")
    args = p.parse_args(argv)
    from web.api import ApiSettings

    try:
        args.api = ApiSettings.resolve(args.allow_origin, args.rate_limit, args.rate_limit_localhost)
    except ValueError as exc:
        p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    assistant = Assistant(articles=args.article, index_dir=args.index_dir)
    try:
        report = assistant.warm_up()
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in assistant.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"index: {len(assistant.articles())} article(s) in {Path(args.index_dir).resolve()}; embedded "
          f"{report.embedded} sentence(s) (added {len(report.added)}, re-indexed {len(report.updated)}, "
          f"unchanged {len(report.unchanged)}) in {time.perf_counter() - t0:.1f}s", flush=True)

    import uvicorn

    from web.server import build_app

    app = build_app(assistant, settings=args.api)
    print(f"Chat served at http://{args.host}:{args.port}/ (ready {time.perf_counter() - t0:.1f}s after start)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
