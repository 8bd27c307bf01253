"""Session 14: which of onnxruntime.transformers' BERT fusions speed a question up. The exporter's graph (no
fusion, what the cache held before EXPORT_VERSION 4), everything fused (shipped), and fused without the attention
or without the embedding layer norm, one question each in turn, with the same session options (threads never
spin, as in session 13, so only the graph differs). Written to /tmp/fusion-variants/.
python bench/experiments/fusion_variants.py"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import perf  # noqa: E402
from retrieval.onnx_backend import DIMENSION, _pad  # noqa: E402


def main() -> None:
    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from retrieval import onnx_backend

    out = Path("/tmp/fusion-variants")
    # the shipped graph is already fused: the product's own export with its fusion step left out makes the
    # exporter's graph, in a cache folder of its own; its session keeps threads from spinning (session 13's options)
    os.environ["RETRIEVAL_ONNX_SPIN"] = "0"
    fuse, onnx_backend._fuse = onnx_backend._fuse, lambda src, dst: src
    try:
        enc = onnx_backend.OnnxEncoder(perf.make_encoder("onnx").model.root, cache_dir=out / "unfused")
    finally:
        onnx_backend._fuse = fuse
        del os.environ["RETRIEVAL_ONNX_SPIN"]
    opts = enc.session.get_session_options()
    graphs = {"exporter's graph (before)": enc.path}
    for name, off in (("all fused (shipped)", ()), ("fused, attention left unfused", ("enable_attention",)),
                      ("fused, embedding layer norm left unfused", ("enable_embed_layer_norm",))):
        fo = FusionOptions("bert")
        for k in off:
            setattr(fo, k, False)
        m = optimize_model(str(enc.path), model_type="bert", num_heads=12, hidden_size=DIMENSION,
                           opt_level=0, optimization_options=fo)
        path = out / (name.split(" (")[0].replace(" ", "_").replace(",", "") + ".onnx")
        m.save_model_to_file(str(path), use_external_data_format=False)
        graphs[name] = path
    sessions = {n: ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"]) for n, p in graphs.items()}
    for n, p in graphs.items():
        print(f"{n:42s} {len(onnx.load(str(p), load_external_data=False).graph.node)} nodes")
    batches = [_pad([np.array(enc.tokenizer.encode(q).ids, np.int64)]) for q in perf.squad_questions(400)]
    ref = [sessions["exporter's graph (before)"].run(None, x)[0][0] for x in batches[:50]]
    names = list(sessions)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(4):
        for i, x in enumerate(batches):
            for n in (names if (i + rnd) % 2 == 0 else names[::-1]):
                t = time.perf_counter()
                sessions[n].run(None, x)
                times[n].append(time.perf_counter() - t)
    base = float(np.median(times[names[0]]))
    for n in names:
        got = [sessions[n].run(None, x)[0][0] for x in batches[:50]]
        cos = min(float(a @ g / np.linalg.norm(a) / np.linalg.norm(g)) for a, g in zip(ref, got))
        print(f"{n:42s} one question p50 {np.median(times[n]) * 1e3:.3f} ms  ratio {np.median(times[n]) / base:.3f}"
              f"  min cosine to the exporter's {cos:.7f}")


if __name__ == "__main__":
    main()
