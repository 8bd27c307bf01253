"""Session 15: a small library's start without `import faiss` (its flat file read as its vectors), side by side with
the code before it: process start -> first answer for the library and for `python app.py` (/api/ask polled every
10 ms), with their peak RSS, alternated with bench.perf's bare ONNX floor in one run.

git worktree add /tmp/before <commit before the change>
OLD=/tmp/before python bench/experiments/lazy_faiss.py [ROUNDS]"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import perf  # noqa: E402


def lib_code(index: str) -> str:
    return perf.COLD_FIGURE.format(index=index) + "import sys; print('FAISS', 'faiss' in sys.modules, flush=True)\n"


def main() -> None:
    from retrieval.embed import model_path

    old = Path(os.environ["OLD"]).resolve()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    work = Path(tempfile.mkdtemp(prefix="lazy-faiss-"))
    trees = {"before": old, "after": ROOT}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", "retrieval", "web"], cwd=tree, check=True)
    env = dict(os.environ, RETRIEVAL_BACKEND="onnx", HF_HUB_OFFLINE="1")
    onnx = next((ROOT / "index" / ".model-cache").glob("*-fp32.onnx"))
    codes = {"floor": (perf.COLD_FLOOR["onnx"].format(root=str(model_path()), onnx=str(onnx)), ROOT)}
    for name, tree in trees.items():
        index = str(work / name)
        codes[f"library {name}"] = (lib_code(index), tree)
        for _ in range(2):  # the build (untimed), then a start on the built library: does it import faiss?
            p = subprocess.run([sys.executable, "-c", lib_code(index)], cwd=tree,
                               env=dict(env, PYTHONPATH=str(tree)), capture_output=True, text=True, check=True)
        print(f"{name}: a start on the built library imports faiss: {'FAISS True' in p.stdout}", flush=True)
    kinds = list(codes) + ["app before", "app after"]
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    hwms: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(rounds):
        for kind in (kinds if i % 2 == 0 else kinds[::-1]):
            if kind.startswith("app "):
                name = kind.split()[1]
                tree = trees[name]
                w, h = perf.app_start(str(work / name), dict(env, PYTHONPATH=str(tree)), cwd=tree)
            else:
                code, tree = codes[kind]
                w, h = perf.run_child(code, dict(env, PYTHONPATH=str(tree)), cwd=tree)
            walls[kind].append(w)
            hwms[kind].append(h)
    floor = statistics.median(walls["floor"])
    floor_hwm = statistics.median(hwms["floor"])
    print(f"\n{rounds} rounds, alternated; medians\n")
    print("| start | process start -> first answer | ratio to the floor | peak RSS | ratio |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        w, h = statistics.median(walls[kind]), statistics.median(hwms[kind])
        print(f"| {kind} | {w:.3f} s (min {min(walls[kind]):.3f}) | {w / floor:.2f}x | {h:.0f} MB | "
              f"{h / floor_hwm:.2f}x |")


if __name__ == "__main__":
    main()
