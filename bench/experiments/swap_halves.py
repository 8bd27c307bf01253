"""Session 6 experiment (bench/QUALITY.md): bench.fit with the halves swapped (swap) or all articles fitted (all).
    python bench/experiments/swap_halves.py swap --augment index/spun/r40/squad-v1.1-dev.jsonl index/spun/r70/squad-v1.1-dev.jsonl"""
import os
import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / 'shared' / 'bench'
sys.path.insert(0, str(ROOT))
import sys
import bench.fit as F
orig = F.split_articles
mode = sys.argv[1]
def split(qs):
    a, b = orig(qs)
    if mode == "swap": return b, a
    if mode == "all": return a | b, b
    return a, b
F.split_articles = split
sys.exit(F.main(sys.argv[2:]))
