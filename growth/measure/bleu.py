"""Corpus BLEU (Papineni, Roukos, Ward, Zhu, ACL 2002) as sacreBLEU computes it (Post, WMT 2018): the
translation score of the Variance Transfer paper's Table 5 (IWSLT'14 De-En).

``BLEU = BP * exp(mean_n log p_n)`` for n = 1..4, where ``p_n`` is the corpus's clipped n-gram precision
(matches summed over all sentences, each n-gram counted at most as often as in its reference, over all
hypothesis n-grams) and ``BP = min(1, exp(1 - r / c))`` the brevity penalty for hypothesis length ``c``
and reference length ``r`` (in tokens, summed over the corpus). One reference per sentence. sacreBLEU's
default smoothing (``"exp"``, Chen and Cherry 2014's method 3) is kept, so that scores carry the standard
sacreBLEU signature: it only acts when some order n has no match in the whole corpus, taking
``p_n = 1 / (2^k * hypothesis n-grams)`` for the k-th such order (a corpus without any matching word
still scores 0).

``tokenize`` is sacreBLEU's tokenizer, applied to both sides before counting: ``"13a"`` (its default, that
of mteval-v13a: splits off punctuation) for detokenised text, ``"none"`` (split on spaces only) for text
that is already tokenised, like the usual IWSLT'14 preprocessing, whose BLEU is conventionally reported on
the tokenised words. :mod:`growth.data.translation` names the right one per dataset (``bleu_tokenize``).
"""
from __future__ import annotations

__all__ = ["corpus_bleu"]


def corpus_bleu(hypotheses: list[str], references: list[str], tokenize: str = "13a") -> float:
    """Corpus BLEU in [0, 100] of ``hypotheses`` against ``references`` (one per sentence, same order)."""
    import sacrebleu
    from sacrebleu.metrics.bleu import BLEU

    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"{name} must be a list of strings, one per sentence; got {type(texts).__name__}")
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have one entry per sentence: got {len(hypotheses)} "
                         f"hypotheses and {len(references)} references")
    if not hypotheses:
        raise ValueError("hypotheses is empty: BLEU needs at least one sentence")
    if tokenize not in BLEU.TOKENIZERS:
        raise ValueError(f"tokenize={tokenize!r} is not a sacreBLEU tokenizer; choose one of {sorted(BLEU.TOKENIZERS)}")
    score = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score
    return min(100.0, float(score))  # exp(mean log p_n) of a perfect corpus can round to 100.00000000000004
