"""Boosted regression trees for stage 2, walked in numpy: LightGBM fits them (bench/fit.py), the runtime needs only
the arrays in weights.json, no LightGBM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Trees:
    """T trees, each padded to a complete binary tree of `depth` levels (heap order): a node splits on
    feature[t, node] and sends a row right when its value is > threshold[t, node]; leaf[t, i] is the value of
    the i-th leaf from the left. A leaf that LightGBM put higher up is a chain of always-left nodes (threshold +inf)
    ending in copies of its value."""

    depth: int
    feature: np.ndarray  # int64 (T, 2**depth - 1)
    threshold: np.ndarray  # float64 (T, 2**depth - 1)
    leaf: np.ndarray  # float64 (T, 2**depth)

    def __post_init__(self) -> None:
        n = (1 << self.depth) - 1
        if self.feature.shape != self.threshold.shape or self.feature.ndim != 2 or self.feature.shape[1] != n:
            raise ValueError(f"feature and threshold must both be (trees, {n}) for depth {self.depth}")
        if self.leaf.shape != (self.feature.shape[0], n + 1):
            raise ValueError(f"leaf must be (trees, {n + 1}) for depth {self.depth}")

    @classmethod
    def from_lightgbm(cls, dump: dict[str, Any], depth: int) -> Trees:
        """From `Booster.dump_model()` of a model whose trees are at most `depth` levels deep (numerical splits)."""
        trees = dump["tree_info"]
        n = (1 << depth) - 1
        feature = np.zeros((len(trees), n), np.int64)
        threshold = np.full((len(trees), n), np.inf)
        leaf = np.zeros((len(trees), n + 1))

        def fill(t: int, node: dict[str, Any], level: int, idx: int) -> None:
            if "leaf_value" in node or "split_feature" not in node:  # a leaf (a one-leaf tree has only leaf_value)
                span = 1 << (depth - level)
                leaf[t, idx * span:(idx + 1) * span] = float(node.get("leaf_value", 0.0))
                return  # the nodes below stay threshold +inf: always left, into the copies of this value
            if level >= depth:
                raise ValueError(f"tree {t} is deeper than {depth} levels")
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"tree {t}: only numerical '<=' splits are supported, not {node['decision_type']}")
            at = (1 << level) - 1 + idx
            feature[t, at] = int(node["split_feature"])
            threshold[t, at] = float(node["threshold"])
            fill(t, node["left_child"], level + 1, 2 * idx)
            fill(t, node["right_child"], level + 1, 2 * idx + 1)

        for t, info in enumerate(trees):
            fill(t, info["tree_structure"], 0, 0)
        return cls(depth, feature, threshold, leaf)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for each row of x (rows, features): all trees, one level at a time."""
        x = np.asarray(x, dtype=np.float64)  # (LightGBM compares in double)
        t = np.arange(len(self.feature))[:, None]
        r = np.arange(len(x))[None, :]
        idx = np.zeros((len(self.feature), len(x)), np.int64)
        for level in range(self.depth):
            node = idx + ((1 << level) - 1)
            idx = 2 * idx + (x[r, self.feature[t, node]] > self.threshold[t, node])
        return self.leaf[t, idx].sum(0)

    def to_json(self) -> dict[str, Any]:
        return {"depth": self.depth, "feature": self.feature.tolist(), "leaf": self.leaf.tolist(),
                "threshold": [[None if not np.isfinite(v) else float(v) for v in row] for row in self.threshold]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trees:
        """The inverse of to_json (None thresholds are the padding's +inf)."""
        thr = np.array([[np.inf if v is None else v for v in row] for row in d["threshold"]], dtype=np.float64)
        return cls(int(d["depth"]), np.array(d["feature"], dtype=np.int64), thr.reshape(len(d["feature"]), -1),
                   np.array(d["leaf"], dtype=np.float64))


@dataclass(frozen=True)
class Blend:
    """Stage 2's score: the linear model's, and for its best `top` candidates the trees' added on top (both scaled
    to unit spread over the fit rows, the trees weighted by alpha); the rest keep their linear order below them."""

    trees: Trees
    linear_scale: float
    tree_scale: float
    top: int

    def __call__(self, f2: np.ndarray, s2: np.ndarray) -> np.ndarray:
        out = s2.astype(np.float64) * self.linear_scale
        if not len(out):
            return out
        k = min(self.top, len(out))
        best = np.argpartition(-out, k - 1)[:k] if len(out) > k else np.arange(len(out))
        boosted = out[best] + self.tree_scale * self.trees.predict(f2[best])
        rest = np.ones(len(out), dtype=bool)
        rest[best] = False
        if rest.any():
            shift = min(0.0, float(boosted.min()) - float(out[rest].max()) - 1.0)
            out[rest] += shift
        out[best] = boosted
        return out

    def to_json(self) -> dict[str, Any]:
        return {"trees": self.trees.to_json(), "linear_scale": self.linear_scale, "tree_scale": self.tree_scale,
                "top": self.top}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Blend:
        return cls(Trees.from_json(d["trees"]), float(d["linear_scale"]), float(d["tree_scale"]), int(d["top"]))
