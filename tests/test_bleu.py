"""growth.measure.bleu.corpus_bleu against BLEU computed by hand from its definition."""

from __future__ import annotations

import math

import pytest

from growth.measure.bleu import corpus_bleu

REFERENCES = ["the cat is on the mat", "a dog runs in the big park"]
HYPOTHESES = ["the cat sat on the mat", "a dog runs in the park"]


@pytest.mark.parametrize("tokenize", ["13a", "none"])
def test_identical_corpora_score_100(tokenize):
    assert corpus_bleu(REFERENCES, REFERENCES, tokenize) == 100.0


def test_matches_the_hand_computed_definition():
    # Clipped n-gram matches / hypothesis n-grams, summed over both sentences:
    #   1-grams: sentence 1 matches the, the, cat, on, mat (5 of 6); sentence 2 all 6 of 6.
    #   2-grams: "the cat", "on the", "the mat" (3 of 5); "a dog", "dog runs", "runs in", "in the" (4 of 5).
    #   3-grams: "on the mat" (1 of 4); "a dog runs", "dog runs in", "runs in the" (3 of 4).
    #   4-grams: none (0 of 3); "a dog runs in", "dog runs in the" (2 of 3).
    precisions = [(5 + 6) / (6 + 6), (3 + 4) / (5 + 5), (1 + 3) / (4 + 4), (0 + 2) / (3 + 3)]
    hyp_len, ref_len = 6 + 6, 6 + 7
    brevity = math.exp(1 - ref_len / hyp_len)  # the hypotheses are shorter: BP < 1
    oracle = 100 * brevity * math.exp(sum(math.log(p) for p in precisions) / 4)
    assert corpus_bleu(HYPOTHESES, REFERENCES) == pytest.approx(oracle, abs=1e-9)
    assert corpus_bleu(HYPOTHESES, REFERENCES, "none") == pytest.approx(oracle, abs=1e-9)  # no punctuation
    assert 0 < oracle < 100


def test_an_order_without_matches_is_smoothed_as_sacrebleu_exp():
    # Sentence 1 alone: 5/6, 3/5, 1/4 and no 4-gram match of 3; "exp" smoothing takes 1 / (2 * 3) for it.
    oracle = 100 * math.exp((math.log(5 / 6) + math.log(3 / 5) + math.log(1 / 4) + math.log(1 / (2 * 3))) / 4)
    assert corpus_bleu(HYPOTHESES[:1], REFERENCES[:1]) == pytest.approx(oracle, abs=1e-9)  # equal lengths: BP = 1
    assert corpus_bleu(["x y z w"], ["a b c d"]) == 0.0  # no unigram match: 0 whatever the smoothing


def test_13a_splits_punctuation_none_does_not():
    hyp, ref = ["hello , world !"], ["hello, world!"]
    assert corpus_bleu(hyp, ref, "13a") == 100.0  # 13a tokenises the reference to "hello , world !"
    assert corpus_bleu(hyp, ref, "none") == 0.0  # "hello," and "world!" match no hypothesis word


@pytest.mark.parametrize(
    "hyps, refs, tokenize, words",
    [
        (["a b"], ["a b", "c d"], "13a", ["1 hypotheses", "2 references"]),
        ([], [], "13a", ["empty"]),
        ("a b c d", ["a b c d"], "13a", ["hypotheses", "list of strings"]),
        (["a b c d"], [None], "13a", ["references", "list of strings"]),
        (["a b c d"], ["a b c d"], "moses", ["tokenize", "'moses'", "13a", "none"]),
    ],
)
def test_bad_inputs_raise(hyps, refs, tokenize, words):
    with pytest.raises(ValueError) as err:
        corpus_bleu(hyps, refs, tokenize)
    assert all(w in str(err.value) for w in words), str(err.value)
