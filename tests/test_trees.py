"""retrieval/trees.py: LightGBM's trees walked in numpy give LightGBM's own predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.trees import Blend, Trees


def _booster(depth: int, min_leaf: int, rounds: int = 40):  # type: ignore[no-untyped-def]
    lgb = pytest.importorskip("lightgbm")  # (fit-time only: requirements-dev.txt)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 7)).astype(np.float32)
    y = (x[:, 0] > 0.3).astype(int) + (x[:, 1] * x[:, 2] > 0).astype(int)
    params = dict(objective="lambdarank", max_depth=depth, num_leaves=2 ** depth, min_child_samples=min_leaf,
                  learning_rate=0.1, verbose=-1, num_threads=1, seed=0)
    return lgb.train(params, lgb.Dataset(x, y, group=[30] * 20), num_boost_round=rounds), rng


@pytest.mark.parametrize("min_leaf", [5, 120])  # 120: many leaves stop above the last level and are padded
def test_numpy_walk_matches_lightgbm_predict(min_leaf: int) -> None:
    bst, rng = _booster(4, min_leaf)
    trees = Trees.from_lightgbm(bst.dump_model(), depth=4)
    x = rng.standard_normal((50, 7)).astype(np.float32)
    x[:5] = 0.0  # values on thresholds' sides the same way LightGBM puts them
    assert np.allclose(trees.predict(x), bst.predict(x), rtol=0, atol=1e-9)
    again = Trees.from_json(json.loads(json.dumps(trees.to_json())))  # weights.json round trip
    assert np.array_equal(again.predict(x), trees.predict(x))


def test_trees_deeper_than_declared_are_refused() -> None:
    bst, _ = _booster(5, 5)
    with pytest.raises(ValueError, match="deeper than 3"):
        Trees.from_lightgbm(bst.dump_model(), depth=3)


def test_blend_reorders_only_the_linear_models_best_candidates() -> None:
    # one tree of depth 1: feature 0 > 0.5 adds 10
    trees = Trees(1, np.array([[0]]), np.array([[0.5]]), np.array([[0.0, 10.0]]))
    blend = Blend(trees, linear_scale=1.0, tree_scale=1.0, top=2)
    f2 = np.array([[0.0], [1.0], [1.0], [0.0]])
    s2 = np.array([3.0, 2.0, 1.0, 0.5])
    out = blend(f2, s2)
    assert np.argsort(-out).tolist() == [1, 0, 2, 3]  # row 1 overtakes row 0; row 2 is not in the best 2
    assert blend(f2[:0], s2[:0]).shape == (0,)


def test_a_blend_in_the_weights_reorders_the_real_answerers_best_candidates(seed_assistant) -> None:
    """The answerer applies weights.json's stage2_blend to its best candidates only: a one-split tree that strongly
    favours the longer half of the linear model's best 10 puts the best of that half first, and the sentences
    below the best 10 keep their linear order."""
    import copy

    from retrieval.answer import STAGE2, Answerer

    base = seed_assistant.answerer
    snap = base.store.snapshot
    q = "Who oversees the legion?"
    qvec, qtok = base.encode_query(q, pieces=True)
    plain = base.rank(q, qvec, snap, qtok=qtok)
    col = STAGE2.index("log_len")
    lens = plain.feats[:10, col]
    thr = float(np.median(lens))
    weights = copy.deepcopy(base.weights)
    tree = Trees(1, np.array([[col]]), np.array([[thr]]), np.array([[0.0, 100.0]]))
    weights["stage2_blend"] = Blend(tree, linear_scale=1.0, tree_scale=1.0, top=10).to_json()
    blended = Answerer(base.store, weights=weights).rank(q, qvec, snap, qtok=qtok)
    favoured = [int(r) for r, n in zip(plain.rows[:10], lens) if n > thr]  # in linear order
    others = [int(r) for r, n in zip(plain.rows[:10], lens) if n <= thr]
    assert favoured and others
    assert blended.rows[:10].tolist() == favoured + others
    assert blended.rows[10:].tolist() == plain.rows[10:].tolist()
    assert Answerer(base.store, weights=weights).run(q).ranked[0].text == snap.sentences[favoured[0]].text
