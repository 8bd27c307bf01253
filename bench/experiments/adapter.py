"""Session 6 experiment (bench/QUALITY.md): a low-rank query-side adapter trained listwise on the fit half;
dense-only top-sentence P@1 on the held-out half.  python bench/experiments/adapter.py"""
import os
import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / 'shared' / 'bench'
sys.path.insert(0, str(ROOT))
import sys, time
from pathlib import Path
import numpy as np, torch
from bench.data import load_set, question_vectors
from bench.fit import Correct, split_articles

SQ = Path(str(SHARED / "squad/squad-v1.1-dev.jsonl"))
sets = [SQ, Path(str(ROOT / "index" / "spun/r40/squad-v1.1-dev.jsonl")), Path(str(ROOT / "index" / "spun/r70/squad-v1.1-dev.jsonl"))]
SEED = Path(str(SHARED / "seed/seed-dev.jsonl"))
SQ2 = Path(str(SHARED / "squad2/squad-v2.0-dev.jsonl"))

def groups(path, qv=None):
    b = load_set(path)
    if qv is None: qv = question_vectors(b)
    cor = Correct(path.parent)
    out = []
    for q, v in zip(b.questions, qv):
        if not q["answers"]: continue
        snap = b.assistants[q["article"]].answerer.store.snapshot
        S = np.asarray(snap.vectors, dtype=np.float32)
        y = np.array([cor(q, s.text) for s in snap.sentences])
        if y.any(): out.append((q["article"], v.astype(np.float32), S, y))
    return out, qv

base, qv = groups(SQ)
allg = [base] + [groups(p, qv)[0] for p in sets[1:]]
fit_arts, held_arts = split_articles([{"article": g[0]} for g in base])
train = [g for gs in allg for g in gs if g[0] in fit_arts]
held = [g for g in base if g[0] in held_arts]
seed = groups(SEED)[0]; sq2 = groups(SQ2)[0]
print("train", len(train), "held", len(held))

def p1(gs, f):
    return np.mean([g[3][np.argmax(g[2] @ f(g[1]))] for g in gs])

def train_adapter(tr, rank=32, tau=0.05, l2=1e-2, epochs=60, lr=3e-3):
    torch.manual_seed(0)
    d = 384
    U = torch.zeros(d, rank, requires_grad=True); V = (torch.randn(d, rank) * 0.01).requires_grad_()
    full = rank == 0
    if full:
        A = torch.zeros(d, d, requires_grad=True); params = [A]
    else:
        params = [U, V]
    opt = torch.optim.Adam(params, lr=lr)
    Q = torch.tensor(np.stack([g[1] for g in tr]))
    Ss = [torch.tensor(g[2]) for g in tr]; Ys = [torch.tensor(g[3]) for g in tr]
    for ep in range(epochs):
        perm = torch.randperm(len(tr))
        tot = 0
        for bi in range(0, len(tr), 64):
            idx = perm[bi:bi+64]
            q = Q[idx]
            delta = q @ A if full else (q @ U) @ V.T
            qa = torch.nn.functional.normalize(q + delta, dim=1)
            loss = 0
            for j, i in enumerate(idx.tolist()):
                z = Ss[i] @ qa[j] / tau
                loss = loss - (torch.logsumexp(z[Ys[i]], 0) - torch.logsumexp(z, 0))
            loss = loss / len(idx) + l2 * (sum((p ** 2).sum() for p in params))
            opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
    if full: M = A.detach().numpy()
    else: M = (U @ V.T).detach().numpy()
    return lambda v: (lambda x: x / np.linalg.norm(x))(v + v @ M)

ident = lambda v: v
print("base  held %.4f seed %.4f sq2 %.4f" % (p1(held, ident), p1(seed, ident), p1(sq2, ident)))
for rank, l2, ep in [(32, 1e-3, 30), (32, 1e-2, 30), (32, 3e-2, 30), (0, 1e-3, 30), (64, 1e-3, 30)]:
    t = time.time(); f = train_adapter(train, rank=rank, l2=l2, epochs=ep)
    print(f"rank {rank} l2 {l2} ep {ep}: held %.4f seed %.4f sq2 %.4f train %.4f (%.0fs)" % (p1(held, f), p1(seed, f), p1(sq2, f), p1(train, f), time.time()-t), flush=True)
