"""Sentences read in their paragraph: the passes' layout (fixed piece counts) and the real model's vectors."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.context import pool, spans, windows


def test_a_pass_holds_one_paragraphs_sentences_as_many_as_fit() -> None:
    # paragraphs 0 (3 sentences), 1 (1), 2 (4 sentences, too long for one pass of 10 pieces + [CLS] / [SEP])
    lengths = [3, 4, 2, 5, 3, 3, 3, 3]
    paragraphs = [0, 0, 0, 1, 2, 2, 2, 2]
    assert windows(lengths, paragraphs, window=12, context=0) == [(0, 0, 3), (3, 3, 4), (4, 4, 7), (7, 7, 8)]


def test_a_short_pass_is_read_after_the_sentences_before_it() -> None:
    lengths = [3, 4, 2, 5, 3, 3]
    paragraphs = [0, 0, 0, 1, 2, 2]
    # the one-sentence paragraph 1 (5 pieces) takes the 2 pieces before it (7), not the 4 before those (11 > 10
    # pieces of room); paragraph 2 (6 pieces) cannot take paragraph 1's 5
    assert windows(lengths, paragraphs, window=12, context=8) == [(0, 0, 3), (2, 3, 4), (4, 4, 6)]
    assert windows(lengths, paragraphs, window=12, context=0) == [(0, 0, 3), (3, 3, 4), (4, 4, 6)]


def test_a_sentence_longer_than_the_window_is_a_pass_of_its_own() -> None:
    assert windows([300, 2, 2], [0, 0, 0], window=256, context=0) == [(0, 0, 1), (1, 1, 3)]
    assert windows([], [], window=256) == []
    with pytest.raises(ValueError, match="differ in length"):
        windows([1, 2], [0])


def test_spans_place_each_pooled_sentence_after_cls_and_the_context() -> None:
    lengths = [3, 4, 2, 5]
    assert spans(lengths, (0, 0, 2)) == [(1, 4), (4, 8)]
    assert spans(lengths, (1, 3, 4)) == [(7, 12)]  # [CLS], 4 + 2 context pieces, then sentence 3's 5


def test_pool_averages_each_span_to_a_unit_vector() -> None:
    hidden = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0], [9.0, 9.0]], np.float32)
    out = pool(hidden, [(0, 2), (2, 3)])
    assert np.allclose(out, [[2 ** -0.5, 2 ** -0.5], [0.6, 0.8]])


def test_the_real_model_reads_a_sentence_in_its_paragraph(encoder) -> None:
    """A paragraph of one sentence gives that sentence's own vector; in a paragraph the same sentence's vector moves
    toward what the paragraph is about, and both backends agree."""
    s = "It was crushed within a week."
    alone = encoder.encode([s])[0]
    texts = ["The revolt began in the capital in March.", s, "The rebel army surrendered its weapons."]
    vecs = encoder.encode_context(texts + [s], [0, 0, 0, 1])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert float(vecs[3] @ alone) > 0.97  # read alone: the plain vector but for [CLS] / [SEP], which it leaves out
    assert float(vecs[1] @ alone) < 0.95  # read in its paragraph: another vector...
    q = encoder.encode(["How quickly was the revolt crushed?"])[0]
    assert float(vecs[1] @ q) > float(alone @ q) + 0.05  # ...that knows what "it" is
    from retrieval.embed import Encoder

    torch_enc = Encoder(backend="torch")
    assert np.abs(torch_enc.encode_context(texts + [s], [0, 0, 0, 1]) - vecs).max() < 1e-4
