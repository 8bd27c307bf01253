"""Performance benchmark: every figure next to a floor measured in the same run, on the same machine.

    python -m bench.perf [--quick] [--scale N] [--seconds S] [--clients C] [--skip SECTION ...] [--json OUT]

Floors are the model's own costs: a bare `model.encode([question])` (the loaded backend object itself, no project
code around it), a bare `model.encode(sentences)` on the same sentences, and a bare process that imports the model
stack and loads the model. Figures and floors are measured interleaved (alternating calls), so load from other
processes on the machine hits both alike; ratios are what to read, absolute numbers move with the load.

Sections: latency (seed article, index loaded), backends (torch vs ONNX fp32 vs ONNX int8 query cost), build
(all shared SQuAD articles in one index, then a re-run that must embed nothing) plus answer latency on that corpus,
cold (process start -> first answer), http (`python app.py` -> its first HTTP answer and -> the chat page at /; 16
clients for S seconds over /api/ask and the Gradio `ask` endpoint, peak RSS of the server), sizes (answer latency as
a library grows: the SQuAD corpus copied up to ~100,000 sentences, real vectors and word pieces) and scale (N passages
in one index: synthetic embeddings around the real SQuAD sentence vectors, real question vectors; exact vs the
store's IVF; then the full answer path over N passages).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
SEED = ROOT / "data" / "seed_article.txt"
SQUAD_DIRS = [SHARED / "squad" / "articles", SHARED / "squad2" / "articles"]
SEED_QUESTIONS = [
    "What is the Free Russia Legion?", "What call sign does the Russian fighter use?", "Who oversees the legion?",
    "What checks do applicants go through?", "Why did the official speak anonymously?",
    "What did the Russian defense ministry spokesman claim?", "Who is Caesar?", "Where do the recruits train?",
    "What is the weather in Moscow today?", "How many fighters does the legion have?",
]


# ---- small helpers ----------------------------------------------------------------------------------------------
def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), p)) if xs else float("nan")


def hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal:")), 0)
    load = os.getloadavg()
    import faiss
    import onnxruntime
    import torch

    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem / 1024 / 1024, 1), "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "faiss": faiss.__version__,
            "loadavg_at_start": [round(x, 2) for x in load]}


def squad_articles(quick: bool) -> list[Path]:
    paths = sorted(p for d in SQUAD_DIRS for p in d.glob("*.md"))
    return paths[:2] if quick else paths


def squad_questions(limit: int) -> list[str]:
    qs: list[str] = []
    for f in (SHARED / "squad" / "squad-v1.1-dev.jsonl", SHARED / "squad2" / "squad-v2.0-dev.jsonl"):
        if f.exists():
            qs += [json.loads(ln)["question"] for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    rng = np.random.default_rng(5)
    return [qs[i] for i in rng.permutation(len(qs))[:limit]] if qs else SEED_QUESTIONS


def interleaved(fig: Callable[[str], Any], floor: Callable[[str], Any], questions: list[str], n: int,
                warm: int = 5) -> tuple[list[float], list[float]]:
    """Times (ms) of fig(q) and floor(q), alternating which goes first, over n questions cycled."""
    for i in range(warm):
        fig(questions[i % len(questions)])
        floor(questions[i % len(questions)])
    a, b = [], []
    for i in range(n):
        q = questions[i % len(questions)]
        for which in ((0, 1) if i % 2 else (1, 0)):
            t = time.perf_counter()
            (fig if which == 0 else floor)(q)
            (a if which == 0 else b).append((time.perf_counter() - t) * 1000)
    return a, b


@dataclass
class Row:
    measure: str
    figure: str
    floor: str
    ratio: float | None
    goal: str
    ok: bool | None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, measure: str, figure: str, floor: str, ratio: float | None, goal: str, note: str = "") -> None:
        ok = None
        m = re.match(r"([<>]=)\s*([\d.]+)x", goal)
        if m and ratio is not None and np.isfinite(ratio):
            ok = ratio <= float(m.group(2)) if m.group(1) == "<=" else ratio >= float(m.group(2))
        self.rows.append(Row(measure, figure, floor, ratio, goal, ok, note))
        print(f"  -> {measure}: {figure} | floor {floor} | {ratio if ratio is None else round(ratio, 2)}x "
              f"(goal {goal}) {'' if ok is None else ('PASS' if ok else 'MISS')} {note}", flush=True)

    def table(self) -> str:
        out = ["| measure | figure | floor (same run) | ratio | goal | |", "|---|---|---|---|---|---|"]
        for r in self.rows:
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
            mark = "" if r.ok is None else ("pass" if r.ok else "**miss**")
            fig = r.figure + (f" ({r.note})" if r.note else "")
            out.append(f"| {r.measure} | {fig} | {r.floor} | {ratio} | {r.goal} | {mark} |")
        return "\n".join(out)


def bare_encode(model) -> Callable[[str], Any]:  # type: ignore[no-untyped-def]
    """The floor for one question: the loaded backend's own encode, as a user of that library would call it."""
    return lambda q: model.encode([q])


def make_encoder(backend: str, variant: str | None = None):  # type: ignore[no-untyped-def]
    from retrieval.embed import Encoder

    if variant:
        os.environ["RETRIEVAL_ONNX_VARIANT"] = variant
    enc = Encoder(backend=backend)
    enc.warm_up()
    os.environ.pop("RETRIEVAL_ONNX_VARIANT", None)
    if enc.backend != backend:
        raise RuntimeError(f"backend {backend} could not load")
    return enc


# ---- sections ---------------------------------------------------------------------------------------------------
def section_latency(rep: Report, args, work: Path, enc) -> Any:  # type: ignore[no-untyped-def]
    """Answer latency on the seed article, index loaded, against bare encode of the same question."""
    from retrieval import Assistant

    print(f"[latency] seed article, backend {enc.backend}", flush=True)
    a = Assistant(articles=[SEED], index_dir=work / "seed-index", encoder=enc)
    a.warm_up()
    n = 60 if args.quick else 400
    ans, flo = interleaved(lambda q: a.answer(q), bare_encode(enc.model), SEED_QUESTIONS, n)
    rep.details["latency_seed"] = {"backend": enc.backend, "n": n, "answer_p50": pct(ans, 50), "answer_p95": pct(ans, 95),
                                   "floor_p50": pct(flo, 50), "floor_p95": pct(flo, 95)}
    rep.add(f"answer latency p50, seed article ({enc.backend})", f"{pct(ans, 50):.1f} ms",
            f"{pct(flo, 50):.1f} ms bare encode", pct(ans, 50) / pct(flo, 50), "<= 1.3x")
    rep.add(f"answer latency p95, seed article ({enc.backend})", f"{pct(ans, 95):.1f} ms",
            f"{pct(flo, 95):.1f} ms bare encode", pct(ans, 95) / pct(flo, 95), "<= 1.3x")
    # where the time goes outside the model
    prof = cProfile.Profile()
    prof.enable()
    for i in range(40 if args.quick else 200):
        a.answer(SEED_QUESTIONS[i % len(SEED_QUESTIONS)])
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
    rep.details["profile_seed_answer"] = buf.getvalue()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(r"retrieval", 25)
    rep.details["profile_seed_answer_cumulative"] = buf.getvalue()
    return a


def section_backends(rep: Report, args) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Lower the floor: one question's embedding with torch, ONNX fp32 and ONNX int8, interleaved."""
    print("[backends] torch vs onnx fp32 vs onnx int8", flush=True)
    encs = {"torch": make_encoder("torch"), "onnx-fp32": make_encoder("onnx", "fp32"),
            "onnx-int8": make_encoder("onnx", "int8")}
    fns = {k: bare_encode(e.model) for k, e in encs.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    n = 40 if args.quick else 150
    for f in fns.values():
        for q in SEED_QUESTIONS[:5]:
            f(q)
    for i in range(n):
        q = SEED_QUESTIONS[i % len(SEED_QUESTIONS)]
        for k in (list(fns) if i % 2 else list(fns)[::-1]):
            t = time.perf_counter()
            fns[k](q)
            times[k].append((time.perf_counter() - t) * 1000)
    texts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", SEED.read_text(encoding="utf-8")) if s.strip()][:200]
    ref = encs["torch"].encode(texts)
    tput = {}
    for k, e in encs.items():
        t = time.perf_counter()
        v = e.model.encode(texts)
        tput[k] = len(texts) / (time.perf_counter() - t)
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        rep.details.setdefault("backend_min_cosine_vs_torch", {})[k] = float((v * ref).sum(1).min())
    base = pct(times["torch"], 50)
    for k in fns:
        rep.add(f"query embedding p50, {k}", f"{pct(times[k], 50):.2f} ms (p95 {pct(times[k], 95):.2f})",
                f"{base:.2f} ms torch", pct(times[k], 50) / base, "",
                note=f"{tput[k]:.0f} sent/s on 200 seed sentences, min cos vs torch "
                     f"{rep.details['backend_min_cosine_vs_torch'][k]:.4f}")
    rep.details["backends"] = {k: {"p50": pct(v, 50), "p95": pct(v, 95), "sent_per_s": tput[k]} for k, v in times.items()}
    return encs


def section_build(rep: Report, args, work: Path, enc) -> Any:  # type: ignore[no-untyped-def]
    """Index build throughput on all shared SQuAD articles vs bare encode of the same sentences; then a no-op re-run."""
    from retrieval import Assistant
    from retrieval.ingest import read_article, read_articles

    paths = squad_articles(args.quick)
    print(f"[build] {len(paths)} SQuAD articles, backend {enc.backend}", flush=True)
    t = time.perf_counter()
    arts = [read_article(p) for p in paths]
    serial_s = time.perf_counter() - t
    t = time.perf_counter()
    read_articles([(p, None) for p in paths])  # as the build parses them (on every core when there are many)
    parse_s = time.perf_counter() - t
    texts = [s.text for a in arts for s in a.sentences]
    paras = [(k, s.paragraph) for k, a in enumerate(arts) for s in a.sentences]
    n = len(texts)
    enc.model.encode(sorted(texts, key=len)[-64:])  # warm-up on the longest sentences: the arena's size is set
    builds, floors, chars, contexts = [], [], [], []
    arms = (0, 1, 2, 3) if enc.backend == "onnx" else (0, 1, 3)
    for rnd in range(1 if args.quick else 3):  # the arms in turn, rotated each round (each arm once in each place): each figure the fastest of three
        d = work / f"build-{enc.backend}-{rnd}"
        shutil.rmtree(d, ignore_errors=True)
        order = arms[rnd % len(arms):] + arms[:rnd % len(arms)]
        for which in order:
            gc.collect()
            t = time.perf_counter()
            if which == 0:
                a = Assistant(articles=paths, index_dir=d, encoder=enc)
                report = a.warm_up(progress=lambda done, total: None)
                builds.append(time.perf_counter() - t)
                assert report.embedded == n, (report.embedded, n)
            elif which == 1:
                enc.model.encode(texts)
                floors.append(time.perf_counter() - t)
            elif which == 2:
                char_order_encode(enc.model, texts)
                chars.append(time.perf_counter() - t)
            else:  # the build's second pass alone: the sentences read in their paragraphs (retrieval/context.py)
                enc.encode_context(texts, paras)
                contexts.append(time.perf_counter() - t)
    b, f = min(builds), min(floors)
    rep.details["build"] = {"articles": len(paths), "sentences": n, "build_s": builds, "floor_s": floors,
                            "char_order_floor_s": chars, "context_pass_s": contexts, "parse_s": parse_s,
                            "parse_one_process_s": serial_s}
    rep.add(f"index build, {len(paths)} SQuAD articles ({n:,} sentences, {enc.backend})", f"{n / b:.0f} sent/s",
            f"{n / f:.0f} sent/s bare encode", (n / b) / (n / f), ">= 0.9x",
            note=f"of which parse+split {parse_s:.1f}s of {b:.1f}s; {serial_s:.1f}s in one process")
    if contexts:
        x = min(contexts)
        rep.add("of the build: the second pass, each sentence read in its paragraph (context vectors, session 10)",
                f"{n / x:.0f} sent/s ({x:.1f} s)", f"{n / f:.0f} sent/s bare encode", (n / x) / (n / f), "(report)",
                note=f"the build without it would be ~{(n / max(b - x, 1e-9)) / (n / f):.2f}x of the bare encode")
    if chars:
        c = min(chars)
        rep.add("bare encode batched by word-piece count (the floor above) vs sentence-transformers' character "
                "order (the floor before session 6)", f"{n / f:.0f} sent/s", f"{n / c:.0f} sent/s in character order",
                c / f, "lower the floor", note=f"the build is {(n / b) / (n / c):.2f}x of the character-order encode")
    t = time.perf_counter()
    again = Assistant(articles=paths, index_dir=work / f"build-{enc.backend}-0", encoder=enc)
    r2 = again.warm_up()
    rep.add("re-run on unchanged articles", f"{r2.embedded} sentences embedded, {time.perf_counter() - t:.2f} s",
            "-", None, "embeds nothing")
    rep.rows[-1].ok = r2.embedded == 0
    # answer latency on the real-text corpus (one index of every SQuAD article)
    qs = squad_questions(40 if args.quick else 200)
    ans, flo = interleaved(lambda q: again.answer(q), bare_encode(enc.model), qs, len(qs))
    rep.add(f"answer latency p50, SQuAD corpus in one index ({n:,} sentences)", f"{pct(ans, 50):.1f} ms "
            f"(p95 {pct(ans, 95):.1f})", f"{pct(flo, 50):.1f} ms bare encode", pct(ans, 50) / pct(flo, 50), "<= 1.3x")
    return again


def char_order_encode(model, texts: list[str], batch_size: int = 32) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The ONNX session batched as sentence-transformers batches (longest in characters first): the old floor."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    for lo in range(0, len(texts), batch_size):
        idx = order[lo:lo + batch_size]
        out[idx] = model.session.run(["sentence_embedding"], model._batch([texts[i] for i in idx]))[0]
    return out


COLD_FLOOR = {
    "torch": ("import time; t=time.perf_counter()\n"
              "from sentence_transformers import SentenceTransformer\n"
              "m = SentenceTransformer({root!r}, device='cpu', local_files_only=True)\n"
              "m.encode(['What is the Free Russia Legion?'])\n"
              "print('READY', flush=True)\n"),
    "onnx": ("import numpy as np, onnxruntime as ort\n"
             "from tokenizers import Tokenizer\n"
             "tok = Tokenizer.from_file({root!r} + '/tokenizer.json')\n"
             "tok.no_padding()\n"  # tokenizer.json pads to 128; the encoders pad a batch to its longest
             "s = ort.InferenceSession({onnx!r}, providers=['CPUExecutionProvider'])\n"
             "ids = np.array([tok.encode('What is the Free Russia Legion?').ids])\n"
             "s.run(None, {{'input_ids': ids, 'attention_mask': np.ones_like(ids), 'token_type_ids': np.zeros_like(ids)}})\n"
             "print('READY', flush=True)\n"),
}
COLD_FIGURE = ("from retrieval import Assistant\n"
               "a = Assistant(index_dir={index!r})\n"
               "a.answer('What is the Free Russia Legion?')\n"
               "print('READY', flush=True)\n")
HWM = "import re; print('HWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), flush=True)\n"


def run_child(code: str, env: dict[str, str], *, cwd: Path = ROOT) -> tuple[float, float]:
    """Seconds from process start to its READY line, and its peak RSS (MB). cwd: the checkout it runs in (`python -c`
    puts its working directory first on sys.path, ahead of PYTHONPATH)."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code + HWM], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 or "READY" not in p.stdout:
        raise RuntimeError(f"child failed: {p.stderr[-2000:]}")
    wall = time.perf_counter() - t
    hwm = float(re.search(r"HWM (\d+)", p.stdout).group(1)) / 1024
    return wall, hwm


@contextlib.contextmanager
def app_process(index: str, env: dict[str, str], *, output: bool = False, cwd: Path = ROOT
                ) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python app.py` serving an index dir on a free port, stopped on exit: (the process, its base URL); output=True
    keeps its output in a pipe (read for a failure message), else it is discarded."""
    port = _free_port()
    out = subprocess.PIPE if output else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--index-dir", index], cwd=cwd,
                            env=dict(env, PYTHONUNBUFFERED="1"), stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def app_start(index: str, env: dict[str, str], *, cwd: Path = ROOT) -> tuple[float, float]:
    """Seconds from `python app.py` to its first /api/ask answer (polled every 10 ms), and its peak RSS (MB) then."""
    t = time.perf_counter()
    with app_process(index, env, cwd=cwd) as (proc, base):
        wall = _poll_server(proc, t, lambda c: _ask_api(c, base, SEED_QUESTIONS[0]), "app.py did not answer",
                            every=0.01)
        return wall, hwm_mb(proc.pid)


def byte_compile(args) -> str:  # type: ignore[no-untyped-def]
    """Compile the project's modules to __pycache__ before a cold start is timed, as pip (for the floor's packages)
    or any first run leaves them; a machine with PYTHONDONTWRITEBYTECODE=1 (this one) would otherwise compile
    ~12 modules from source in every timed start (~40-90 ms), which the floor's installed packages never do."""
    if args.source:
        shutil.rmtree(ROOT / "retrieval" / "__pycache__", ignore_errors=True)
        shutil.rmtree(ROOT / "web" / "__pycache__", ignore_errors=True)
        return "project modules from source (--source)"
    subprocess.run([sys.executable, "-m", "compileall", "-q", "retrieval", "web"], cwd=ROOT, check=True)
    return "project modules byte-compiled"


def section_cold(rep: Report, args, work: Path, backend: str, enc) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Process start -> first answer (index on disk) vs a bare process that imports the model stack and loads it."""
    from retrieval.embed import model_path

    print(f"[cold] backend {backend}", flush=True)
    compiled = byte_compile(args)
    env = dict(os.environ, RETRIEVAL_BACKEND=backend, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    index = str(work / "seed-index")
    fmt = {"root": str(model_path()), "onnx": str(getattr(enc.model, "path", ""))}
    kinds = ["figure", "floor", "app"] + (["single"] if backend == "onnx" else []) + (["torch"] if backend != "torch" else [])
    codes = {"figure": COLD_FIGURE.format(index=index), "floor": COLD_FLOOR[backend].format(**fmt)}
    if "single" in kinds:
        # the same weights as one self-contained .onnx file (how torch.onnx.export writes it, and how most ONNX
        # models ship): onnxruntime parses and copies the tensors instead of mapping the product's .onnx.data file
        import onnx

        single = work / "single-file.onnx"
        if not single.exists():
            onnx.save_model(onnx.load(fmt["onnx"]), str(single))
        codes["single"] = COLD_FLOOR["onnx"].format(**dict(fmt, onnx=str(single)))
    if "torch" in kinds:
        codes["torch"] = COLD_FLOOR["torch"].format(**fmt)
    # the first start on this folder builds its library (the seed article, embedded once): not a start "index on
    # disk", so it is run once untimed and every timed start finds the library built
    run_child(codes["figure"], env)
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    hwms: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(2 if args.quick else 4):
        for kind in (kinds if i % 2 == 0 else kinds[::-1]):
            w, h = app_start(index, env) if kind == "app" else run_child(codes[kind], env)
            walls[kind].append(w), hwms[kind].append(h)
    med = {k: float(np.median(v)) for k, v in walls.items()}
    mhwm = {k: float(np.median(v)) for k, v in hwms.items()}
    f, b = med["figure"], med["floor"]
    rep.add(f"cold start: process start -> first answer ({backend}, library)", f"{f:.2f} s",
            f"{b:.2f} s bare {backend} model process", f / b, "<= 1.5x", note=compiled)
    if "single" in med:
        rep.add("cold start vs a bare process on the single-file graph", f"{f:.2f} s",
                f"{med['single']:.2f} s bare onnx process, one .onnx file", f / med["single"], "<= 1.5x")
    if "torch" in med:
        rep.add("cold start vs the PyTorch floor", f"{f:.2f} s", f"{med['torch']:.2f} s bare torch model process",
                f / med["torch"], "<= 1.5x")
    a = med["app"]
    rep.add(f"cold start: `python app.py` -> first HTTP answer ({backend})", f"{a:.2f} s",
            f"{b:.2f} s bare {backend} model process", a / b, "<= 1.5x",
            note="median of the starts, interleaved with the floor's, /api/ask polled every 10 ms" +
                 (f"; {a / med['single']:.2f}x the single-file graph's bare process ({med['single']:.2f} s)"
                  if "single" in med else ""))
    rep.add(f"peak RSS, `python app.py`: start -> first HTTP answer ({backend})", f"{mhwm['app']:.0f} MB",
            f"{mhwm['floor']:.0f} MB bare {backend} model process", mhwm["app"] / mhwm["floor"], "(report)",
            note="median of the starts above; Gradio is still loading in the background then")
    out = {"fig_s": f, "floor_s": b, "fig_hwm": mhwm["figure"], "floor_hwm": mhwm["floor"], "app_s": a,
           "app_hwm": mhwm["app"]}
    if "single" in med:
        out.update(single_floor_s=med["single"], single_floor_hwm=mhwm["single"])
    if "torch" in med:
        out["torch_floor_hwm"] = mhwm["torch"]
    figs, floors, tfloors = walls["figure"], walls["floor"], walls.get("torch", [])
    rep.details["cold"] = dict(out, figs=figs, floors=floors, torch_floors=tfloors, hwms=hwms, apps=walls["app"])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ERRORS: dict[str, int] = {}


def _error(kind: str) -> bool:
    ERRORS[kind] = ERRORS.get(kind, 0) + 1
    return False


def _ask_api(client, base: str, q: str) -> bool:  # type: ignore[no-untyped-def]
    r = client.post(f"{base}/api/ask", json={"question": q})
    if r.status_code != 200:
        return _error(f"/api/ask HTTP {r.status_code}")
    return "answer" in r.json() or _error("/api/ask: no answer field")


_GRADIO_ARGS: dict[str, list[Any]] = {}


def _ask_gradio(client, base: str, q: str) -> bool:  # type: ignore[no-untyped-def]
    """The chat's `ask` endpoint over Gradio's HTTP protocol (POST the call, then read its event stream)."""
    if base not in _GRADIO_ARGS:  # the endpoint's other inputs (history, article choice...) at their defaults
        params = client.get(f"{base}/gradio_api/info").json()["named_endpoints"]["/ask"]["parameters"]
        _GRADIO_ARGS[base] = [p_.get("parameter_default") for p_ in params[1:]]
    r = client.post(f"{base}/gradio_api/call/ask", json={"data": [q, *_GRADIO_ARGS[base]]})
    if r.status_code != 200:
        return _error(f"gradio call HTTP {r.status_code}")
    ev = r.json()["event_id"]
    r = client.get(f"{base}/gradio_api/call/ask/{ev}")
    if r.status_code != 200 or "event: complete" not in r.text:
        return _error(f"gradio event: {r.text[:120]!r}")
    return True


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far (from /proc), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def load_test(fn, base: str, questions: list[str], clients: int, seconds: float,  # type: ignore[no-untyped-def]
              server_pid: int | None = None) -> dict[str, Any]:
    """C client threads (httpx, keep-alive) in this process; also the CPU the clients and the server used."""
    import httpx

    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(timeout=60) as c:
            i = k
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    ok = fn(c, base, questions[i % len(questions)])
                except Exception as exc:  # noqa: BLE001 - any failure is an error to count
                    ok = _error(type(exc).__name__)
                with lock:
                    if ok:
                        lat.append((time.perf_counter() - t) * 1000)
                    else:
                        errors[0] += 1
                i += clients

    t0 = time.perf_counter()
    c0, s0 = time.process_time(), cpu_seconds(server_pid) if server_pid else float("nan")
    ths = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - c0
    server_cpu = (cpu_seconds(server_pid) - s0) if server_pid else float("nan")
    return {"answers": len(lat), "per_s": len(lat) / wall, "errors": errors[0], "p50": pct(lat, 50), "p95": pct(lat, 95),
            "client_cpu_ms_per_answer": 1000 * client_cpu / max(1, len(lat)),
            "server_cpu_ms_per_answer": 1000 * server_cpu / max(1, len(lat)),
            "client_cores": client_cpu / wall, "server_cores": server_cpu / wall}


def section_http(rep: Report, args, work: Path, assistant, backend: str, cold: dict[str, float] | None) -> None:  # type: ignore[no-untyped-def]
    """answers/s over HTTP with C concurrent clients vs in-process answers/s; peak RSS of the server."""
    import httpx

    print(f"[http] {args.clients} clients x {args.seconds}s, backend {backend}", flush=True)
    secs = args.seconds
    def in_process() -> tuple[float, float]:
        """The floor: the same assistant answering back to back in this process (answers/s, CPU ms per answer)."""
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < min(secs, 10):
            assistant.answer(SEED_QUESTIONS[n % len(SEED_QUESTIONS)])
            n += 1
        return n / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / n

    # measured before and after the load tests (the load from other processes moves): the floor is their mean
    inproc_runs = [in_process()]
    byte_compile(args)
    env = dict(os.environ, RETRIEVAL_BACKEND=backend, HF_HUB_OFFLINE="1")
    t_start = time.perf_counter()
    with app_process(str(work / "seed-index"), env, output=True) as (proc, base):
        def chat_page(c: httpx.Client) -> bool:
            return c.get(f"{base}/", timeout=2).status_code == 200

        api: list[bool] = []

        def first_answer(c: httpx.Client) -> bool:
            if _ask_api(c, base, SEED_QUESTIONS[0]):
                api.append(True)
                return True
            return chat_page(c) and _ask_gradio(c, base, SEED_QUESTIONS[0])

        first = _poll_server(proc, t_start, first_answer, "server did not answer")
        # the chat page at / (200): app.py builds it after the API is served
        chat = _poll_server(proc, t_start, chat_page, "the chat page never served") if api else first
        if cold:
            rep.add(f"cold start: `python app.py` -> chat page at / ({backend})", f"{chat:.2f} s",
                    f"{cold['floor_s']:.2f} s bare model process", chat / cold["floor_s"], "-",
                    note=f"/ answers a 503 starting page until Gradio is imported and mounted; this start's first "
                         f"answer {first:.2f} s (polled every 0.1 s)")
        results = {}
        ready_hwm = hwm_mb(proc.pid)
        api_hwm = float("nan")
        if api:
            results["/api/ask"] = load_test(_ask_api, base, SEED_QUESTIONS, args.clients, secs, proc.pid)
            api_hwm = hwm_mb(proc.pid)
        results["gradio /ask"] = load_test(_ask_gradio, base, SEED_QUESTIONS, args.clients, secs, proc.pid)
        server_hwm = hwm_mb(proc.pid)
        inproc_runs.append(in_process())
    inproc = float(np.mean([r[0] for r in inproc_runs]))
    inproc_cpu = float(np.mean([r[1] for r in inproc_runs]))
    for name, r in results.items():
        ok_note = (f"{r['answers']} answers, {r['errors']} errors, p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms; "
                   f"CPU per answer: server {r['server_cpu_ms_per_answer']:.1f} ms, load client "
                   f"{r['client_cpu_ms_per_answer']:.1f} ms ({r['client_cores']:.2f} cores)")
        rep.add(f"HTTP {name}: answers/s, {args.clients} clients, {secs:.0f} s", f"{r['per_s']:.1f}/s",
                f"{inproc:.1f}/s in-process, sequential (before {inproc_runs[0][0]:.1f}, after {inproc_runs[-1][0]:.1f}; "
                f"{inproc_cpu:.1f} ms CPU per answer)", r["per_s"] / inproc, ">= 0.5x", note=ok_note)
        if r["errors"]:
            rep.rows[-1].ok = False
    rep.details["http"] = {"first_answer_s": first, "chat_page_s": chat, "ready_hwm_mb": ready_hwm,
                           "api_hwm_mb": api_hwm, "inprocess_per_s": inproc,
                           "inprocess_runs": inproc_runs, **results, "server_hwm_mb": server_hwm, "errors": dict(ERRORS)}
    if ERRORS:
        print(f"  HTTP errors: {ERRORS}", flush=True)
    if cold:
        rep.add(f"peak RSS serving the seed article (app.py, {backend}, after the load test)", f"{server_hwm:.0f} MB",
                f"{cold['floor_hwm']:.0f} MB bare model process", server_hwm / cold["floor_hwm"], "<= 1.3x",
                note=f"{cold['app_hwm']:.0f} MB at its first answer (median of the cold starts), {ready_hwm:.0f} MB "
                     f"once the chat is served, {api_hwm:.0f} MB after the /api/ask load; the Gradio load adds each "
                     f"new chat session's state ({results.get('gradio /ask', {}).get('answers', 0)} sessions)")
        rep.add(f"peak RSS, library process: start -> first answer ({backend})", f"{cold['fig_hwm']:.0f} MB",
                f"{cold['floor_hwm']:.0f} MB bare model process", cold["fig_hwm"] / cold["floor_hwm"], "<= 1.3x")
        if "single_floor_hwm" in cold:
            sh = cold["single_floor_hwm"]
            rep.add("peak RSS app.py (chat served / after both loads) vs the single-file graph's bare process",
                    f"{ready_hwm:.0f} / {server_hwm:.0f} MB", f"{sh:.0f} MB bare onnx process, one .onnx file",
                    server_hwm / sh, "<= 1.3x", note=f"chat served {ready_hwm / sh:.2f}x; library "
                                                     f"{cold['fig_hwm'] / sh:.2f}x")


def section_scale(rep: Report, args, enc, corpus) -> None:  # type: ignore[no-untyped-def]
    """N passages in one index: synthetic vectors around the real SQuAD sentence vectors; exact vs approximate."""
    import faiss

    from retrieval.store import _is_ivf_fp16, build_faiss, ivf_params

    N = args.scale
    print(f"[scale] {N:,} passages", flush=True)
    snap0 = corpus.store.snapshot
    real_vecs = np.ascontiguousarray(snap0.vectors, dtype=np.float32)
    n_real = len(real_vecs)
    rng = np.random.default_rng(0)
    rss0 = rss_mb()
    t = time.perf_counter()
    vecs, anchors = scale_vectors(real_vecs, N, rng)
    gen_s = time.perf_counter() - t
    qs = squad_questions(50 if args.quick else 200)
    qv = enc.encode(qs)
    # exact ground truth (one batched search) and exact search latency (one question at a time, the first 20)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    flat_build = time.perf_counter() - t
    _, gt = flat.search(qv, 10)
    lat = []
    for q in qv[:20]:
        t = time.perf_counter()
        flat.search(q[None, :], 10)
        lat.append((time.perf_counter() - t) * 1000)
    flat_p50 = pct(lat, 50)
    del flat
    gc.collect()
    rep.details["scale"] = {"N": N, "real": n_real, "gen_s": gen_s, "exact": {"build_s": flat_build, "p50_ms": flat_p50,
                                                                              "mem_mb": vecs.nbytes / 2**20}}
    # IVF, as the store builds it above EXACT_LIMIT (its nlist and nprobe for N vectors)
    nlist, store_nprobe = ivf_params(N)
    rss1 = rss_mb()
    t = time.perf_counter()
    ivf = build_faiss(vecs, exact_limit=0)
    ivf_build = time.perf_counter() - t
    ivf_mem = rss_mb() - rss1
    assert ivf.nlist == nlist and ivf.nprobe == store_nprobe, (ivf.nlist, ivf.nprobe)
    curve = {}
    chosen = None
    for nprobe in sorted({4, 8, 12, 16, 24, 32, 64, store_nprobe}):
        ivf.nprobe = nprobe
        lat, hits = [], 0
        for i, q in enumerate(qv):
            t = time.perf_counter()
            _, ids = ivf.search(q[None, :], 10)
            lat.append((time.perf_counter() - t) * 1000)
            hits += len(set(ids[0]) & set(gt[i]))
        rec = hits / (10 * len(qv))
        curve[nprobe] = {"recall@10": rec, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)}
        if chosen is None and rec >= 0.95:
            chosen = nprobe
    ivf.nprobe = store_nprobe  # the answer path below searches as a loaded store would
    rep.details["scale"]["ivf"] = {"nlist": nlist, "build_s": ivf_build, "rss_mb": ivf_mem, "curve": curve,
                                   "nprobe": store_nprobe, "smallest_nprobe_recall_0.95": chosen}
    got = curve[store_nprobe]
    kind = "IVF, float16 lists" if _is_ivf_fp16(ivf) else type(ivf).__name__
    # the index file's size without writing it: each vector's code and id, and the centroids
    file_mb = (ivf.ntotal * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4) / 2**20
    rep.add(f"{kind}, {N:,} vectors (store.build_faiss: nlist {nlist}, nprobe {store_nprobe}) recall@10 vs exact",
            f"{got['recall@10']:.3f}", "exact IndexFlatIP", None, ">= 0.95",
            note=f"build {ivf_build:.0f} s, query p50 {got['p50_ms']:.2f} ms vs exact {flat_p50:.1f} ms, "
                 f"+{ivf_mem:.0f} MB (~{file_mb:.0f} MB file); recall >= 0.95 "
                 f"from nprobe {chosen}")
    rep.rows[-1].ok = got["recall@10"] >= 0.95
    # a change rebuilds the index: one article (40 sentences) added last, and the same with every row moved
    extra = np.concatenate([vecs, vecs[np.random.default_rng(7).integers(0, N, 40)]])  # (rng stays as it was)
    t = time.perf_counter()
    grown = build_faiss(extra, exact_limit=0, previous=ivf, kept=N)
    append_s = time.perf_counter() - t
    del grown
    gc.collect()
    t = time.perf_counter()
    moved = build_faiss(extra, exact_limit=0, previous=ivf, kept=0)
    moved_s = time.perf_counter() - t
    del moved, extra
    gc.collect()
    rep.details["scale"]["ivf"].update(rebuild_append_s=append_s, rebuild_moved_s=moved_s)
    rep.add(f"the FAISS index after a change, {N:,} vectors: one article added last / rows moved (an article "
            "changed or removed)", f"{append_s:.1f} s / {moved_s:.1f} s", f"{ivf_build:.0f} s trained from scratch",
            append_s / ivf_build, "(report)", note="the previous index's lists copied and the new rows added / its "
            "trained centroids reused, every vector assigned again")
    # the full answer path over N passages: real SQuAD articles + synthetic filler articles, one index
    t = time.perf_counter()
    snap = scale_snapshot(snap0, vecs, anchors, ivf, rng)
    text_s = time.perf_counter() - t
    scale_answer(rep, args, enc, snap, text_s, rss0)


def section_sizes(rep: Report, args, enc, corpus) -> None:  # type: ignore[no-untyped-def]
    """Answer latency as a library grows: the real-text corpus copied k times (real sentence vectors and word pieces;
    the pieces dropped above store.TOKEN_LIMIT as a built index drops them), FAISS index and ranking path chosen by
    size as the store and the answerer choose them."""
    import dataclasses

    from retrieval.answer import FULL_SCAN_LIMIT, Answerer
    from retrieval.store import TOKEN_LIMIT, Snapshot, Store

    snap0 = corpus.store.snapshot
    n0 = len(snap0.sentences)
    qs = squad_questions(30 if args.quick else 100)
    rows = []
    for k in ((3, 13) if args.quick else (2, 3, 6, 13, 27)):
        arts, vba, tba = {}, {}, {}
        for c in range(k):
            for aid, art in snap0.articles.items():
                nid = f"{aid}-copy{c}" if c else aid
                arts[nid] = dataclasses.replace(art, id=nid, sentences=[dataclasses.replace(x, article_id=nid)
                                                                        for x in art.sentences])
                lo, hi = snap0.offsets[aid]
                vba[nid] = snap0.vectors[lo:hi]
                if snap0.tokens is not None:
                    tba[nid] = snap0.tokens.rows(lo, hi)
        n = k * n0
        print(f"[sizes] {n:,} sentences", flush=True)
        t = time.perf_counter()
        snap = Snapshot.make(arts, vba, snap0.vectors.shape[1], tokens_by_article=tba if n <= TOKEN_LIMIT else None)
        build_s = time.perf_counter() - t
        store = Store(Path(tempfile.mkdtemp(prefix="perf-sizes-")), enc)
        store._snapshot = snap
        answerer = Answerer(store)
        t = time.perf_counter()
        answerer.warm_up()
        warm_s = time.perf_counter() - t
        ans, flo = interleaved(lambda q: answerer.run(q), bare_encode(enc.model), qs, 2 * len(qs), warm=3)
        path = "full scan" if n <= FULL_SCAN_LIMIT else "candidates"
        kind = type(snap.index).__name__
        rows.append({"sentences": n, "copies": k, "faiss": kind, "path": path, "pieces": snap.tokens is not None,
                     "faiss_build_s": build_s, "warm_up_s": warm_s, "p50": pct(ans, 50), "p95": pct(ans, 95),
                     "floor_p50": pct(flo, 50), "floor_p95": pct(flo, 95)})
        rep.add(f"answer latency p50, {n:,} sentences in one index (the SQuAD corpus x{k}; {kind}, {path}"
                f"{', word pieces' if snap.tokens is not None else ''})", f"{pct(ans, 50):.1f} ms (p95 {pct(ans, 95):.1f})",
                f"{pct(flo, 50):.1f} ms bare encode", pct(ans, 50) / pct(flo, 50), "(report)",
                note=f"FAISS built in {build_s:.1f} s, lexical warm-up {warm_s:.1f} s")
        shutil.rmtree(store.directory, ignore_errors=True)
        del answerer, store, snap
        gc.collect()
    rep.details["sizes"] = rows


def scale_vectors(real_vecs: np.ndarray, N: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """N unit vectors: the real ones, then synthetic ones around a random real anchor each (and the anchors)."""
    n_real = len(real_vecs)
    vecs = np.empty((N, real_vecs.shape[1]), dtype=np.float32)
    vecs[:n_real] = real_vecs
    anchors = rng.integers(0, n_real, N)
    sigma = 0.05  # noise norm ~ 1: synthetic passages sit at cosine ~0.7 from a real sentence, like paraphrases
    for lo in range(n_real, N, 100_000):
        hi = min(N, lo + 100_000)
        block = real_vecs[anchors[lo:hi]] + sigma * rng.standard_normal((hi - lo, real_vecs.shape[1]), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vecs[lo:hi] = block
    return vecs, anchors


def scale_snapshot(snap0, vecs: np.ndarray, anchors: np.ndarray, index, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """A snapshot of the real articles plus synthetic 100-sentence articles (5-sentence paragraphs) up to len(vecs):
    each synthetic sentence is half of its anchor sentence's words plus six random words of the real vocabulary."""
    from retrieval.ingest import Article, Paragraph, Sentence
    from retrieval.store import Snapshot

    N = len(vecs)
    real_texts = [s.text for s in snap0.sentences]
    n_real = len(real_texts)
    vocab = sorted({w for s in real_texts for w in s.split()})
    split = [s.split() for s in real_texts]
    pick_rng = random.Random(int(rng.integers(2**31)))  # a draw per sentence: the stdlib's sample is the fast one
    filler = rng.integers(0, len(vocab), (N, 6)).tolist()
    arts: dict[str, Article] = dict(snap0.articles)
    sentences = list(snap0.sentences)
    offsets = dict(snap0.offsets)
    per_art, per_par = 100, 5
    for ai, lo in enumerate(range(n_real, N, per_art)):
        hi = min(N, lo + per_art)
        aid = f"synthetic-{ai}"
        texts = []
        for r in range(lo, hi):
            words = split[anchors[r]]
            pick = pick_rng.sample(words, min(max(3, len(words) // 2), len(words)))
            texts.append(" ".join(pick + [vocab[j] for j in filler[r]]) + ".")
        src_parts, pars, sents, pos = [], [], [], 0
        for j, tx in enumerate(texts):
            if j % per_par == 0:
                if j:
                    pars[-1] = Paragraph(len(pars) - 1, pars[-1].start, pos - 1, "")
                pars.append(Paragraph(len(pars), pos, pos, ""))
            sents.append(Sentence(aid, len(pars) - 1, j, pos, pos + len(tx), tx))
            src_parts.append(tx)
            pos += len(tx) + 1
        pars[-1] = Paragraph(len(pars) - 1, pars[-1].start, pos - 1, "")
        art = Article(id=aid, title=f"Synthetic {ai}", date=None, source=" ".join(src_parts), format="text")
        art.paragraphs, art.sentences = pars, sents
        arts[aid] = art
        offsets[aid] = (lo, hi)
        sentences.extend(sents)
    return Snapshot(arts, sentences, vecs, index, offsets, "scale")


def _poll_server(proc: subprocess.Popen, t_start: float, ready: Callable[[httpx.Client], bool], failure: str,
                 every: float = 0.1) -> float:
    """Seconds from t_start until ready(client) holds, polling every `every` s for up to 300 s; RuntimeError if
    never."""
    import httpx

    with httpx.Client(timeout=30) as c:
        while time.perf_counter() - t_start < 300 and proc.poll() is None:
            try:
                if ready(c):
                    return time.perf_counter() - t_start
            except httpx.HTTPError:
                pass
            time.sleep(every)
    raise RuntimeError(f"{failure}: " + (proc.stdout.read() if proc.stdout and proc.poll() is not None else ""))


def _reset_hwm() -> bool:
    """Reset this process's peak RSS (VmHWM) so a later hwm_mb() is the peak of what follows (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def scale_answer(rep: Report, args, enc, snap, text_s: float, rss0: float) -> None:  # type: ignore[no-untyped-def]
    """The answerer over the scale snapshot: lexical warm-up time and memory, then answer latency vs bare encode."""
    from retrieval.answer import Answerer
    from retrieval.store import Store

    N = len(snap.sentences)
    store = Store(Path(tempfile.mkdtemp(prefix="perf-scale-")), enc)
    store._snapshot = snap
    answerer = Answerer(store)
    gc.collect()
    rss_before = rss_mb()
    hwm_ok = _reset_hwm()
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    answerer.warm_up()
    lex_s = time.perf_counter() - t
    lex_rss = rss_mb() - rss_before
    lex_peak = (hwm_mb() - rss_before) if hwm_ok else float("nan")
    rss_total = rss_mb() - rss0
    again = Answerer(store)  # a restart: the same sentences, their reading kept in the index dir (retrieval/lexicon.py)
    t = time.perf_counter()
    again.warm_up()
    lex_again_s = time.perf_counter() - t
    del again
    gc.collect()
    qs2 = squad_questions(30 if args.quick else 100)
    load1 = os.getloadavg()[0]
    ans, flo = interleaved(lambda q: answerer.run(q), bare_encode(enc.model), qs2, len(qs2), warm=3)
    load2 = os.getloadavg()[0]
    rep.details["scale"]["answer"] = {"text_gen_s": text_s, "lexical_warm_up_s": lex_s,
                                      "lexical_warm_up_restart_s": lex_again_s, "lexical_rss_mb": lex_rss,
                                      "lexical_peak_rss_mb": lex_peak, "rss_added_mb": rss_total,
                                      "loadavg_warm_up": [load0, load1], "loadavg_answers": [load1, load2],
                                      "p50": pct(ans, 50), "p95": pct(ans, 95), "floor_p50": pct(flo, 50),
                                      "floor_p95": pct(flo, 95), "over_floor_p50_ms": pct(ans, 50) - pct(flo, 50)}
    rep.add(f"answer latency p50, {N:,} passages in one index (IVF, {enc.backend})",
            f"{pct(ans, 50):.1f} ms (p95 {pct(ans, 95):.1f})", f"{pct(flo, 50):.1f} ms bare encode",
            pct(ans, 50) / pct(flo, 50), "<= 1.6x",
            note=f"answerer warm-up (lexical index) {lex_s:.0f} s ({lex_again_s:.0f} s at a restart, reading the kept "
                 f"lexicon), +{lex_rss:.0f} MB RSS (peak +{lex_peak:.0f} MB); "
                 f"process RSS +{rss_total:.0f} MB for the {N:,} passages; load {load1:.1f}-{load2:.1f}")
    prof = cProfile.Profile()
    prof.enable()
    for q in qs2[:20]:
        answerer.run(q)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    rep.details["profile_scale_answer"] = buf.getvalue()
    scale_rebuild(rep, answerer, store, qs2)
    shutil.rmtree(store.directory, ignore_errors=True)  # (the kept lexicon)


def scale_rebuild(rep: Report, answerer, store, qs: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Questions asked while the lexical index of a changed library is rebuilt (as after an article is added: a new
    snapshot whose last sentence reads differently, so the kept lexicon does not apply and every sentence is read
    again), one thread asking while another rebuilds, as in a server."""
    import dataclasses

    old = store.snapshot
    last = old.sentences[-1]
    new = dataclasses.replace(old, version=f"{old.version}-changed",
                              sentences=old.sentences[:-1] + [dataclasses.replace(last, text=last.text + " Changed.")])
    store._snapshot = new
    took: list[float] = []

    def rebuild() -> None:
        t = time.perf_counter()
        answerer.prepare(new)  # what Assistant's changes wait for before they return
        took.append(time.perf_counter() - t)

    worker = threading.Thread(target=rebuild)
    worker.start()
    lat, i = [], 0
    while worker.is_alive():
        q = qs[i % len(qs)]
        i += 1
        t = time.perf_counter()
        answerer.run(q)
        lat.append((time.perf_counter() - t) * 1000)
    worker.join()
    served_new = answerer.serving() is new
    rebuild_s = took[0] if took else float("nan")
    rep.details["scale"]["rebuild"] = {"rebuild_s": rebuild_s, "questions": len(lat),
                                       "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "max_ms": max(lat, default=0.0),
                                       "new_snapshot_served_after": served_new}
    rep.add(f"questions asked while the lexical index of a changed {len(new.sentences):,}-passage library is rebuilt",
            f"{len(lat)} answered: p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, max {max(lat, default=0.0):.0f} ms",
            f"the rebuild: {rebuild_s:.0f} s", None, "(report)",
            note="from the library as it was until the rebuild is done (before session 8 every question waited for "
                 "the whole rebuild)" + ("" if served_new else "; the new snapshot was NOT served after it"))
    rep.rows[-1].ok = served_new and bool(lat)
    store._snapshot = old


# ---- main -------------------------------------------------------------------------------------------------------
SECTIONS = ("latency", "backends", "build", "cold", "http", "sizes", "scale")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: few repetitions, 2 articles, 50,000 passages")
    p.add_argument("--scale", type=int, default=None, help="passages in the scale test (default 1,000,000)")
    p.add_argument("--seconds", type=float, default=None, help="HTTP load test duration (default 30)")
    p.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    p.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    p.add_argument("--json", type=Path, help="also write every measurement as JSON here")
    p.add_argument("--source", action="store_true", help="cold starts: leave the project's modules uncompiled (by "
                   "default they are byte-compiled first, as pip or any first run leaves them)")
    args = p.parse_args(argv)
    args.scale = args.scale or (50_000 if args.quick else 1_000_000)
    args.seconds = args.seconds or (5.0 if args.quick else 30.0)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from retrieval.embed import default_backend

    rep = Report()
    rep.details["machine"] = machine()
    backend = default_backend()
    rep.details["default_backend"] = backend
    print(f"machine: {rep.details['machine']}\ndefault backend: {backend}", flush=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="perf-") as tmp:
        work = Path(tmp)
        enc = make_encoder(backend)
        assistant = section_latency(rep, args, work, enc) if "latency" not in args.skip else None
        corpus = section_build(rep, args, work, enc) if {"build", "sizes", "scale"} - set(args.skip) else None
        if "backends" not in args.skip:  # after the build: loading torch leaves threads (tqdm monitors) that a
            section_backends(rep, args)  # product process does not have, and they keep read_articles on one core
        cold = None
        if "cold" not in args.skip:
            if assistant is None:
                assistant = section_latency(rep, args, work, enc)
            cold = section_cold(rep, args, work, backend, enc)
        if "http" not in args.skip:
            if assistant is None:
                assistant = section_latency(rep, args, work, enc)
            section_http(rep, args, work, assistant, backend, cold)
        if "sizes" not in args.skip:
            section_sizes(rep, args, enc, corpus)
        if "scale" not in args.skip:
            section_scale(rep, args, enc, corpus)
    rep.details["total_s"] = time.perf_counter() - t_all
    rep.details["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    m = rep.details["machine"]
    print("\n## Performance (python -m bench.perf" + (" --quick" if args.quick else "") + ")\n")
    print(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, torch {m['torch']}, "
          f"onnxruntime {m['onnxruntime']}, faiss {m['faiss']}; load average at start {m['loadavg_at_start']}, "
          f"at end {rep.details['loadavg_at_end']}. Default backend: {backend}. Total {rep.details['total_s']:.0f} s.\n")
    print(rep.table())
    for key in ("profile_seed_answer", "profile_scale_answer"):
        if key in rep.details:
            print(f"\n### {key}\n")
            print("\n".join(rep.details[key].strip().splitlines()[:40]))
    if "scale" in rep.details:
        print("\n### scale details\n")
        print(json.dumps(rep.details["scale"], indent=1, default=float))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": [r.__dict__ for r in rep.rows], "details": rep.details}, indent=1,
                                        default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
