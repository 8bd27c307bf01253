"""Session 13: peak RSS and time of saving the 1M store (Store._save of bench.perf's 1M snapshot, its vectors in
memory as after a build). Loads the store saved in DIR (default /tmp/exp-1m; made there if missing, _scale.py). To
compare with other code, run it from a worktree of that code (ROOT=that worktree).
python bench/experiments/save_peak.py [DIR]"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("ROOT") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from _scale import saved_store  # noqa: E402
from bench import perf  # noqa: E402


def _status(key: str) -> int:
    """A /proc/self/status figure in MB (VmRSS: now; VmHWM: the peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) // 1024
    return -1


def main() -> None:
    from retrieval.store import Store

    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    snap = saved_store(d, enc).snapshot
    snap = dataclasses.replace(snap, vectors=np.array(snap.vectors))  # in memory, as after a build
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status("VmRSS")
    out = Path(tempfile.mkdtemp(prefix="exp-save-"))
    t = time.perf_counter()
    Store(out, enc)._save(snap)
    print(f"{ROOT}: save {time.perf_counter() - t:.1f} s, RSS {before} MB before, peak +{_status('VmHWM') - before} MB "
          f"while saving")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
