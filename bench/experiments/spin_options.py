"""Session 14: onnxruntime's intra-op spinning options on the shipped (fused) graph: a question's encode, interleaved;
throughput with 1, 2 and 4 threads calling one session for 3 s; and the CPU a process burns per question when
questions come every 20 ms (spinning between runs shows there). Sessions differ only in their spin options.
python bench/experiments/spin_options.py"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import perf  # noqa: E402
from retrieval.onnx_backend import _pad  # noqa: E402


def main() -> None:
    import onnxruntime as ort

    enc = perf.make_encoder("onnx")
    graph = str(enc.model.path)

    def session(**cfg: str):  # type: ignore[no-untyped-def]
        o = ort.SessionOptions()
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        o.inter_op_num_threads = 1
        for k, v in cfg.items():
            o.add_session_config_entry(k.replace("__", "."), v)
        return ort.InferenceSession(graph, sess_options=o, providers=["CPUExecutionProvider"])

    spin, dur, stop = "session__intra_op__allow_spinning", "session__intra_op__spin_duration_us", "session__force_spinning_stop"
    sessions = {
        "never spin (session 13)": session(**{spin: "0"}),
        "spin, default length, stop after a run": session(**{spin: "1", stop: "1"}),
        "spin <= 100 us, stop after a run (shipped)": session(**{spin: "1", dur: "100", stop: "1"}),
        "spin <= 500 us, stop after a run": session(**{spin: "1", dur: "500", stop: "1"}),
        "spin <= 2000 us, stop after a run": session(**{spin: "1", dur: "2000", stop: "1"}),
    }
    names = list(sessions)
    batches = [_pad([np.array(enc.model.tokenizer.encode(q).ids, np.int64)]) for q in perf.squad_questions(300)]
    times: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(3):
        for i, b in enumerate(batches):
            for n in (names if (i + rnd) % 2 == 0 else names[::-1]):
                t = time.perf_counter()
                sessions[n].run(None, b)
                times[n].append(time.perf_counter() - t)
    base = float(np.median(times[names[0]]))
    for n in names:
        print(f"{n:44s} one question p50 {np.median(times[n]) * 1e3:.3f} ms  p95 "
              f"{np.percentile(times[n], 95) * 1e3:.3f}  ratio {np.median(times[n]) / base:.3f}", flush=True)

    def throughput(s, k: int, secs: float = 3.0) -> float:  # type: ignore[no-untyped-def]
        end = time.perf_counter() + secs
        done = [0] * k

        def work(j: int) -> None:
            i = j
            while time.perf_counter() < end:
                s.run(None, batches[i % len(batches)])
                done[j] += 1
                i += k
        threads = [threading.Thread(target=work, args=(j,)) for j in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / secs

    for k in (1, 2, 4):
        for rnd in range(2):
            order = names if rnd == 0 else names[::-1]
            print(f"{k} callers, round {rnd}: " + ", ".join(f"{n} {throughput(sessions[n], k):.0f}/s" for n in order),
                  flush=True)
    for n in names:
        c0 = time.process_time()
        for b in batches[:100]:
            sessions[n].run(None, b)
            time.sleep(0.02)
        print(f"{n:44s} CPU per question, one question every 20 ms: {(time.process_time() - c0) / 100 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
