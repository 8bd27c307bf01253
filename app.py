"""Entry point: serve the chat at http://127.0.0.1:7860, or manage the article library.

    python app.py [--article PATH ... | --articles DIR] [--host H] [--port P] [--index-dir DIR]   serve the chat
    python app.py add PATH... [--index-dir DIR]      add article files or folders (re-index changed ones)
    python app.py list [--index-dir DIR]             list the articles of the library
    python app.py remove ID... [--index-dir DIR]     remove articles (their vectors and metadata)
    python app.py ask "QUESTION" [--in ID]           answer from the library (all articles, or one)
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

from retrieval import RetrievalError
from retrieval.assistant import DEFAULT_INDEX_DIR, Assistant, article_files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Ask questions about articles; answers quote and cite their sentences. "
                                "Commands: add PATH..., list, remove ID... (default: serve the chat).")
    p.add_argument("--article", action="append", metavar="PATH",
                   help="article file to serve (repeatable); default: the library in the index dir")
    p.add_argument("--articles", metavar="DIR", help="serve the article files of this folder")
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
    sub = p.add_subparsers(dest="command", metavar="{add,list,remove,ask}")
    # --index-dir is accepted after the command too (SUPPRESS keeps the main parser's value when it is not given)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", default=argparse.SUPPRESS, help="where built indexes live (default index/)")
    add = sub.add_parser("add", parents=[common], help="add article files or folders to the library")
    add.add_argument("paths", nargs="+", metavar="PATH", help="article file (.txt .md .html .pdf) or folder")
    sub.add_parser("list", parents=[common], help="list the articles of the library")
    rm = sub.add_parser("remove", parents=[common], help="remove articles from the library")
    rm.add_argument("ids", nargs="+", metavar="ID", help="article id (as `list` shows it)")
    ask = sub.add_parser("ask", parents=[common], help="answer a question from the library, with citations")
    ask.add_argument("question", help="the question")
    ask.add_argument("--in", dest="scope", metavar="ID", help="ask one article (its id); default: all of them")
    args = p.parse_args(argv)
    if args.command and (args.article or args.articles):
        p.error(f"--article/--articles serve files; they do not go with `{args.command}` (which works on the library)")
    if args.article and args.articles:
        p.error("give either --article PATH ... or --articles DIR, not both")
    if not args.command:
        from web.settings import ApiSettings  # (not web.api: FastAPI is imported in the background, see main)

        try:
            args.api = ApiSettings.resolve(args.allow_origin, args.rate_limit, args.rate_limit_localhost,
                                           bind_host=args.host)
        except ValueError as exc:
            p.error(str(exc))
    return args


def _line(a: dict) -> str:
    date = a.get("date") or "no date"
    return f"{a['id']}  “{a['title']}” ({date}, {a['format']}, {a['sentences']} sentences)"


def run_command(args: argparse.Namespace) -> int:
    """add / list / remove on the library in the index dir; messages name the files and ids."""
    assistant = Assistant(index_dir=args.index_dir)
    try:
        if args.command == "list":
            arts = assistant.articles(details=True)
            for w in assistant.warnings:
                print(f"warning: {w}", file=sys.stderr)
            if not arts:
                print(f"no articles in {Path(args.index_dir).resolve()} (add some: python app.py add PATH)")
            for a in arts:
                print(_line(a) + (f"  {a['path']}" if a.get("path") else ""))
            return 0
        if args.command == "ask":
            if args.scope is not None:
                assistant.article(args.scope)  # an unknown id is reported before the model loads
            assistant.warm_up()
            ans = assistant.answer(args.question, article=args.scope)
            print(ans.text)
            for c in ans.citations:
                date = f", {c.article_date}" if c.article_date else ""
                print(f"  [{c.number}] “{c.article_title}”{date}, paragraph {c.paragraph + 1} (id {c.article_id})")
            return 0
        if args.command == "remove":
            missing = 0
            for aid in args.ids:
                if assistant.remove(aid):
                    print(f"removed {aid}")
                else:
                    missing += 1
                    print(f"error: there is no article with id {aid!r} (see: python app.py list)", file=sys.stderr)
            return 1 if missing else 0
        # add
        t0 = time.perf_counter()
        res = assistant.add_paths(args.paths)
        for w in assistant.warnings:
            print(f"warning: {w}", file=sys.stderr)
        for verb, arts in (("added", res.added), ("re-indexed", res.updated), ("unchanged", res.unchanged)):
            for art in arts:
                print(f"{verb} {_line({**art.__dict__, 'sentences': len(art.sentences)})}")
        for _, msg in res.refused:
            print(f"refused: {msg}", file=sys.stderr)
        print(f"embedded {res.report.embedded} sentence(s) in {time.perf_counter() - t0:.1f}s; "
              f"{len(assistant.articles())} article(s) in the library")
        return 1 if res.refused else 0
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _import_server() -> None:
    """Import what serving needs; an error here is raised again, and reported, by main's own import."""
    try:
        import uvicorn  # noqa: F401

        import web.server  # noqa: F401
    except Exception:  # noqa: BLE001, S110
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.command else logging.INFO, format="%(message)s")
    if args.command:
        return run_command(args)
    t0 = time.perf_counter()
    from web.lean import limit_malloc_arenas, release_free_memory

    limit_malloc_arenas()  # before the model's and the server's threads start
    # FastAPI and uvicorn (~0.5 s of imports) load in a thread while the model loads (bench/PERF.md: cold start)
    server_imports = threading.Thread(target=_import_server, name="import-server", daemon=True)
    server_imports.start()
    articles = args.article
    if args.articles:
        try:
            articles, skipped = article_files(args.articles)
        except RetrievalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for _, msg in skipped:
            print(f"refused: {msg}", file=sys.stderr)
        if not articles:
            print(f"error: {args.articles}: the folder holds no article file", file=sys.stderr)
            return 2
    assistant = Assistant(articles=articles, index_dir=args.index_dir)
    try:
        report = assistant.warm_up()
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in assistant.warnings:
        print(f"warning: {w}", file=sys.stderr)
    release_free_memory()  # loading the model's graph freed ~30 MB that glibc would keep
    print(f"index: {len(assistant.articles())} article(s) in {Path(args.index_dir).resolve()}; embedded "
          f"{report.embedded} sentence(s) (added {len(report.added)}, re-indexed {len(report.updated)}, "
          f"unchanged {len(report.unchanged)}) in {time.perf_counter() - t0:.1f}s", flush=True)

    server_imports.join()
    import uvicorn

    from web.server import build_app

    def chat_ready() -> None:
        print(f"Chat served at http://{args.host}:{args.port}/ (ready {time.perf_counter() - t0:.1f}s after start)",
              flush=True)
        release_free_memory()

    # the API answers as soon as the server listens; Gradio (seconds to import) is built and mounted at / behind it
    app = build_app(assistant, settings=args.api, defer_chat=True, on_chat_ready=chat_ready)
    print(f"API served at http://{args.host}:{args.port}/api/ask (ready {time.perf_counter() - t0:.1f}s after start); "
          f"the chat at / follows once Gradio is loaded", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
