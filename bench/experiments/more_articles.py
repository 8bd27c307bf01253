"""Does the fit gain from more articles? bench.fit on a chosen split of squad-v1.1-dev's 12 articles (sorted):
    python bench/experiments/more_articles.py FIT TEST -- <bench.fit args>
FIT / TEST: comma-separated positions in the sorted article list (e.g. 0,2,4,6,8,10 and 3,7,11)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import bench.fit as F  # noqa: E402

fit_pos, test_pos = ([int(x) for x in a.split(",")] for a in sys.argv[1:3])


def split(qs):  # type: ignore[no-untyped-def]
    arts = sorted({q["article"] for q in qs})
    return {arts[i] for i in fit_pos}, {arts[i] for i in test_pos}


F.split_articles = split
sys.exit(F.main(sys.argv[3:]))
