"""A faster CPU backend for the same model: all-MiniLM-L6-v2 exported to ONNX and run with onnxruntime.

The .onnx file is never shipped or downloaded: it is exported from the verified model on first use (torch's legacy
exporter), checked against the PyTorch model's own vectors, and kept in a cache dir keyed by the model's sha256.
Later processes load it without importing torch. The weights sit beside the graph in a `.onnx.data` file (ONNX external
data), which onnxruntime maps into memory instead of parsing a 90 MB protobuf and copying every tensor out of it: a
session starts in ~0.1 s instead of ~0.25 s and a process peaks ~70 MB lower (bench/PERF.md, session 5). Tokenisation uses the model's tokenizer.json (the `tokenizers`
library), pooling is the model's mean pooling, then L2 normalisation: the same vectors as sentence-transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .fileio import sha256_file, write_atomic
from .errors import ModelError

#: Bump when the exported graph changes (inputs, outputs, opset): old cache entries are then ignored.
EXPORT_VERSION = 4  # 2: the word pieces' vectors are a second output; 3: weights in an external .onnx.data file;
# 4: fp32 attention and layer norms fused (_fuse)
OPSET = 17
#: How long (microseconds) an idle intra-op thread spins for the next node of the same run before it sleeps.
SPIN_US = 100
#: sentence-transformers' max_seq_length for this model (tokenizer.json itself says 128; the model uses 256).
MAX_SEQ_LENGTH = 256
DIMENSION = 384
#: Export check: every probe sentence's ONNX vector against torch's (fp32 must be the same vector up to rounding).
MIN_COSINE = {"fp32": 0.9999, "int8": 0.98}
PROBES = [
    "What is the Free Russia Legion?",
    "The rocket launched in 1969 from Florida, and its engines burned kerosene.",
    "Caesar, who is 50, joined the unit after the invasion began.",
    "a",
    "Photosynthesis converts light energy into chemical energy that is stored in glucose. " * 12,
]


def default_cache_dir() -> Path:
    """RETRIEVAL_MODEL_CACHE, else index/.model-cache in the project (never committed: index/ is ignored)."""
    env = os.environ.get("RETRIEVAL_MODEL_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "index" / ".model-cache"


def _model_key(root: Path) -> str:
    """The verified weights' upstream sha256 (embed.verify_model has checked the file against it)."""
    spec = json.loads(Path(__file__).with_name("model-sha256.json").read_text(encoding="utf-8"))
    return spec["files"]["model.safetensors"][:16]


def _fuse(src: Path, dst: Path) -> Path:
    """src with each layer's attention, and its layer norms with the adds before them, as onnxruntime's fused BERT
    kernels (56 nodes instead of the exporter's 526): a question is embedded in ~0.89x the time, with the same
    vectors up to rounding (bench/PERF.md, session 14). dst, or src itself where the optimizer fails (the unfused
    graph is as correct, only slower)."""
    import logging

    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        # opt_level 0: only the optimizer's own pattern fusions (portable contrib ops); the session applies the rest
        fused = optimize_model(str(src), model_type="bert", num_heads=12, hidden_size=DIMENSION, opt_level=0,
                               optimization_options=FusionOptions("bert"))
        fused.save_model_to_file(str(dst), use_external_data_format=False)
        return dst
    except Exception as exc:  # a torch whose exported graph the optimizer does not know, a broken optimizer
        logging.getLogger(__name__).warning("ONNX fusion failed (%s); using the unfused graph", str(exc)[:200])
        return src


class _Pooled:  # built lazily: torch is only imported when exporting
    @staticmethod
    def make(root: Path):  # type: ignore[no-untyped-def]
        import torch
        from transformers import AutoModel

        class Pooled(torch.nn.Module):
            """Transformer + attention-masked mean pooling: (batch, seq) ids -> (batch, 384) sentence vectors, and
            the (batch, seq, 384) word-piece vectors they are the mean of."""

            def __init__(self) -> None:
                super().__init__()
                self.bert = AutoModel.from_pretrained(str(root), local_files_only=True, attn_implementation="eager")
                self.bert.eval()

            def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), hidden

        return Pooled().eval()




class OnnxEncoder:
    """Drop-in for SentenceTransformer.encode on this model, backed by onnxruntime.

    variant: "fp32" (same vectors as torch) or "int8" (dynamic int8 quantisation of the fp32 graph: it scales each
    activation tensor by its batch's range, so a sentence's int8 vector moves slightly with what it is batched with,
    cosine down to ~0.987; a question, embedded alone, is unaffected; bench/PERF.md, session 11).
    verify: called before an export (embed.verify_model: the weights must match the upstream hashes first).
    """

    def __init__(self, root: str | Path, *, variant: str | None = None, cache_dir: str | Path | None = None,
                 threads: int | None = None, verify: Callable[[], object] | None = None) -> None:
        variant = variant or os.environ.get("RETRIEVAL_ONNX_VARIANT", "fp32")
        if variant not in MIN_COSINE:
            raise ValueError(f"variant must be one of {sorted(MIN_COSINE)}, got {variant!r}")
        self.root = Path(root)
        self.variant = variant
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.path = self.cache_dir / f"all-MiniLM-L6-v2-{_model_key(self.root)}-v{EXPORT_VERSION}-{variant}.onnx"
        #: the weights (ONNX external data): the graph names this file, relative to its own folder
        self.data_path = self.path.with_name(self.path.name + ".data")
        self._lock = threading.Lock()
        self._verify = verify
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.root / "tokenizer.json"))
        tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tok.no_padding()  # padded per batch to its longest sentence, below
        self.tokenizer = tok
        self.session = self._load_or_export(threads)
        import onnxruntime as ort

        #: After the last batch of a multi-sentence call, onnxruntime hands the activation memory of its batches back
        #: (a 30-sentence batch grows its arena by ~50 MB that a serving process would otherwise keep); a question's
        #: single-sentence calls keep the arena as it is.
        self._shrink_arena = ort.RunOptions()
        self._shrink_arena.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    # ---- the cached graph ------------------------------------------------------------------------
    def _load_or_export(self, threads: int | None):  # type: ignore[no-untyped-def]
        import onnxruntime as ort

        meta_path = self.path.with_suffix(".json")
        valid = False
        if self.path.exists() and self.data_path.exists() and meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                valid = _files_valid(meta_path, meta, [self.path, self.data_path])
            except (OSError, ValueError, TypeError, AttributeError):
                valid = False
        if not valid:
            self._export()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Between the ~50 nodes of one run an idle intra-op thread spins for at most SPIN_US before it sleeps, and
        # stops spinning when the run ends: waking a sleeping thread for every node cost a question ~20 % of its
        # time, while unbounded spinning (onnxruntime's default) burns a core between questions and takes the CPU
        # that a second answer or another process needs. Same vectors (bench/PERF.md, session 14).
        # RETRIEVAL_ONNX_SPIN=0: threads never spin.
        spin = os.environ.get("RETRIEVAL_ONNX_SPIN", "1") != "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if spin:
            opts.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_US))
            opts.add_session_config_entry("session.force_spinning_stop", "1")
        try:
            # from the path: onnxruntime finds the weights beside it and maps them (a bytes object would be a copy)
            return ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # pragma: no cover - onnxruntime rejects a graph it wrote itself
            raise ModelError(f"onnxruntime cannot load {self.path}: {str(exc).splitlines()[0][:200]}") from exc

    def _export(self) -> None:
        """Export (and for int8 quantise) the verified model, check it against torch, then publish it atomically:
        the weights first, then the graph that names them, then the record of both hashes."""
        import tempfile

        if self._verify is not None:
            self._verify()  # the weights against the upstream hashes, before anything is derived from them
        import onnx
        import torch

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        model = _Pooled.make(self.root)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".export-") as tmpd:
            fp32 = Path(tmpd) / "model.onnx"
            enc = self._batch(["hello world", "a longer sentence for the export"])
            args = tuple(torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
            axes = {0: "batch", 1: "seq"}
            with torch.no_grad():
                torch.onnx.export(model, args, str(fp32), dynamo=False, opset_version=OPSET,
                                  input_names=["input_ids", "attention_mask", "token_type_ids"],
                                  output_names=["sentence_embedding", "token_embeddings"],
                                  dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                                "sentence_embedding": {0: "batch"}, "token_embeddings": axes})
            out = _fuse(fp32, Path(tmpd) / "model-fused.onnx") if self.variant == "fp32" else fp32
            fused = out != fp32  # (recorded: a graph the optimizer could not fuse is cached unfused)
            if self.variant == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                out = Path(tmpd) / "model-int8.onnx"
                quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=["MatMul"])  # per-channel MatMul weights: min cosine 0.987 vs 0.91 per-tensor
            staged = Path(tmpd) / "staged"
            staged.mkdir()
            graph, weights = staged / self.path.name, staged / self.data_path.name
            onnx.save_model(onnx.load(str(out)), str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=weights.name, size_threshold=1024)
            self._check(graph, model)
            files = {}
            for src, dst in ((weights, self.data_path), (graph, self.path)):
                data = src.read_bytes()
                write_atomic(dst, data)
                files[dst.name] = {"sha256": hashlib.sha256(data).hexdigest(), "stat": _stat_key(dst)}
        write_atomic(self.path.with_suffix(".json"), json.dumps({
            "files": files, "variant": self.variant, "opset": OPSET, "export_version": EXPORT_VERSION, "fused": fused,
            "torch": torch.__version__, "model_sha256_prefix": _model_key(self.root),
        }, indent=1).encode("utf-8"))
        self._drop_older_exports()

    def _drop_older_exports(self) -> None:
        """An upgrade re-exports under a new EXPORT_VERSION: the old 90 MB graphs of this model and variant go."""
        stem = f"all-MiniLM-L6-v2-{_model_key(self.root)}-v"
        for f in self.cache_dir.glob(f"{stem}*-{self.variant}.*"):
            version = f.name[len(stem):].split("-", 1)[0]
            if version.isdigit() and int(version) != EXPORT_VERSION:
                f.unlink(missing_ok=True)

    def _check(self, graph: Path, model) -> None:  # type: ignore[no-untyped-def]
        """The exported graph must give torch's vectors on the probe sentences (once, at export)."""
        import onnxruntime as ort
        import torch

        sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        enc = self._batch(PROBES)
        got = sess.run(None, enc)[0]
        with torch.no_grad():
            want = model(*(torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))[0].numpy()
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
        want = want / np.linalg.norm(want, axis=1, keepdims=True)
        cos = float((got * want).sum(1).min())
        if cos < MIN_COSINE[self.variant]:
            raise ModelError(f"the exported ONNX model ({self.variant}) disagrees with PyTorch (min cosine {cos:.5f}); "
                             "not using it")

    # ---- encoding --------------------------------------------------------------------------------
    def _batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        return _pad([e.ids for e in self.tokenizer.encode_batch(texts)])

    def _piece_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's word-piece ids, tokenised 1,024 at a time and kept as ids only (50,000 tokenizers.Encoding
        objects would hold ~100 MB of strings and offsets)."""
        return [np.array(e.ids, np.int64) for lo in range(0, len(texts), 1024)
                for e in self.tokenizer.encode_batch(texts[lo:lo + 1024])]

    def get_embedding_dimension(self) -> int:
        return DIMENSION

    def encode(self, texts: list[str] | str, batch_size: int = 32, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: object) -> np.ndarray:
        """(n, 384) float32 sentence vectors. Batches are formed by word-piece count, as encode_tokens forms them
        (sentence-transformers forms them by characters, which pads ~35 % instead of ~2 %: bench/PERF.md, session 6)."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        out = np.zeros((len(items), DIMENSION), dtype=np.float32)
        if items:
            pieces = self._piece_ids(items) if len(items) > 1 else None
            order = _longest_first(pieces) if pieces is not None else np.zeros(1, np.int64)
            bar = None
            if show_progress_bar:
                from tqdm import tqdm

                bar = tqdm(total=len(items), desc="Embedding", unit="sent")
            last = (len(items) - 1) // batch_size * batch_size
            for lo in range(0, len(items), batch_size):
                idx = order[lo:lo + batch_size]
                opts = self._shrink_arena if lo == last and len(items) > 1 else None
                inputs = _pad([pieces[i] for i in idx]) if pieces is not None else self._batch(items)
                vecs = self.session.run(["sentence_embedding"], inputs, opts)[0]
                out[idx] = vecs
                if bar is not None:
                    bar.update(len(idx))
            if bar is not None:
                bar.close()
            if normalize_embeddings:
                out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def encode_tokens(self, texts: list[str], keep: np.ndarray, batch_size: int = 32,
                      progress: Callable[[int, int], object] | None = None) -> tuple[np.ndarray, "TokenVectors"]:
        """Unit sentence vectors and the kept word pieces' unit vectors, from one pass over the texts (progress(done,
        total) after each batch)."""
        from .tokens import TokenVectors

        if len(texts) == 1:  # a question: one batch, already in order
            batch = self._batch(texts)
            vecs, hidden = self.session.run(None, batch)
            vecs = np.array(vecs, dtype=np.float32)
            vecs /= np.maximum(np.sqrt(np.add.reduce(vecs * vecs, axis=1, keepdims=True)), 1e-12)  # (norm's arithmetic)
            return vecs, TokenVectors.from_unpadded(batch["input_ids"][0], hidden[0], keep)  # (one text: no padding)
        # Tokenised once, then batched by piece count (as encode batches): a batch of sentences of one length in
        # pieces pads ~2 % where a character-length order pads ~35 % (bench/PERF.md, session 6).
        pieces = self._piece_ids(texts)
        order = _longest_first(pieces)
        # each sentence's kept pieces go straight to its rows in input order (no per-batch parts to concat and take)
        counts = np.fromiter((int(keep[p].sum()) for p in pieces), np.int64, len(pieces))
        offsets = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        tok_ids = np.empty(int(offsets[-1]), np.int32)
        tok_vecs = np.empty((int(offsets[-1]), DIMENSION), np.float16)
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for lo in range(0, len(texts), batch_size):
            idx = order[lo:lo + batch_size]
            batch = _pad([pieces[i] for i in idx])
            vecs, hidden = self.session.run(None, batch)
            out[idx] = vecs
            part = TokenVectors.from_batch(batch["input_ids"], batch["attention_mask"], hidden, keep)
            dest = np.repeat(offsets[idx] - part.offsets[:-1], counts[idx]) + np.arange(len(part.ids))
            tok_ids[dest] = part.ids
            tok_vecs[dest] = part.vectors
            if progress is not None:
                progress(min(lo + batch_size, len(texts)), len(texts))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out, TokenVectors(tok_ids, offsets, tok_vecs)

    def encode_context(self, texts: list[str], paragraphs: list[object], *,
                       progress: Callable[[int, int], object] | None = None) -> np.ndarray:
        """Unit sentence vectors read in their paragraph (retrieval/context.py), from the graph's word-piece output."""
        from .context import read

        if not texts:
            return np.zeros((0, DIMENSION), np.float32)

        def run(seqs: list[np.ndarray], last: bool) -> np.ndarray:
            return self.session.run(["token_embeddings"], _pad(seqs), self._shrink_arena if last else None)[0]

        pieces = [p[1:-1] for p in self._piece_ids(texts)]  # without [CLS] / [SEP] (truncated as a sentence is)
        return read(pieces, paragraphs, cls=self.tokenizer.token_to_id("[CLS]"),
                    sep=self.tokenizer.token_to_id("[SEP]"), dim=DIMENSION, run=run, progress=progress)


def _longest_first(pieces: list[np.ndarray]) -> np.ndarray:
    """Positions of the sentences by decreasing piece count (stable): consecutive batches of them pad little."""
    return np.argsort(-np.fromiter(map(len, pieces), np.int64, len(pieces)), kind="stable")


def _pad(pieces: list[list[int]] | list[np.ndarray]) -> dict[str, np.ndarray]:
    """The model's inputs for sentences' word-piece ids, padded to the longest of them."""
    width = max(len(p) for p in pieces)
    ids = np.zeros((len(pieces), width), dtype=np.int64)
    mask = np.zeros((len(pieces), width), dtype=np.int64)
    for i, p in enumerate(pieces):
        n = len(p)
        ids[i, :n] = p
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _stat_key(path: Path) -> list[int]:
    """What changes when a file is written or replaced: size, modification and status-change times, inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _files_valid(meta_path: Path, meta: dict, paths: list[Path]) -> bool:
    """Each file as its export recorded it. A file is hashed once after it is written (~0.1 s for 90 MB, a sixth of a
    cold start); later starts compare its size, times and inode with what that check saw: any write changes its ctime."""
    files = meta["files"]
    hashed = False
    for path in paths:
        rec = files[path.name]
        if rec.get("stat") == _stat_key(path):
            continue
        if sha256_file(path) != rec["sha256"]:
            return False  # damaged or replaced: export again
        rec["stat"] = _stat_key(path)
        hashed = True
    if hashed:  # a read-only cache is simply hashed at every start
        try:
            write_atomic(meta_path, json.dumps(meta, indent=1).encode("utf-8"))
        except OSError:
            pass
    return True
