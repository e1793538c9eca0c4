"""growth.data.translation: the tokenizer, the token tensors, the synthetic language pair, and IWSLT'14 read
from a tiny corpus the tests write in fairseq's preprocessed layout."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from growth.data import DatasetNotFoundError, dataset_kind, list_datasets, load
from growth.data import translation as tr
from growth.data.translation import BOS, EOS, IGNORE, PAD, UNK, SubwordTokenizer, SyntheticLanguage
from growth.measure.bleu import corpus_bleu

SMALL = {"num_train": 240, "num_test": 40, "vocab_size": 160}


@pytest.fixture(scope="module")
def synthetic():
    return load("translation-synthetic", val_fraction=0.1, seed=0, **SMALL)


def _row_ids(row: torch.Tensor, stop: int) -> list[int]:
    """Ids of a padded row up to (not including) its ``stop`` id."""
    ids = row.tolist()
    return ids[: ids.index(stop)]


# --- the tensors ---------------------------------------------------------------------------------------


def test_registered_as_token_datasets():
    assert {"translation-synthetic", "iwslt14"} <= set(list_datasets())
    assert dataset_kind("translation-synthetic") == dataset_kind("iwslt14") == "tokens"
    assert dataset_kind("cifar10") == "tensor"


def test_tensor_layout_matches_the_text(synthetic):
    s, tok = synthetic, synthetic.tokenizer
    assert (s.num_train, s.num_val, s.num_test) == (216, 24, 40)
    assert s.input_shape == (2, 64) and s.input_dtype == torch.long and s.max_len == 64
    assert s.num_classes == tok.vocab_size == len(s.classes) and s.bleu_tokenize == "13a"
    for split in ("train", "val", "test"):
        x, y = s.tensors(split)
        assert x.dtype == y.dtype == torch.int64 and x.shape[1:] == (2, 64) and y.shape[1:] == (64,)
        sources, references = s.sources(split), s.references(split)
        assert len(sources) == len(references) == x.shape[0]
        for i in range(x.shape[0]):
            src, tgt = tok.encode(sources[i]), tok.encode(references[i])
            n, m = len(src), len(tgt)
            assert x[i, 0].tolist() == src + [EOS] + [PAD] * (63 - n)
            assert x[i, 1].tolist() == [BOS] + tgt + [PAD] * (63 - m)
            assert y[i].tolist() == tgt + [EOS] + [IGNORE] * (63 - m)
            assert tok.decode(y[i]) == references[i] and tok.decode(x[i, 1]) == references[i]


def test_splits_partition_the_generated_pairs_and_info_is_json(synthetic):
    import json

    train, val = synthetic.indices["train"], synthetic.indices["val"]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(240))
    info = json.loads(json.dumps(synthetic.info))
    assert info["num_train"] == 216 and info["encoding"]["train"]["dropped_too_long"] == 0
    assert info["tokenizer"]["vocab_size"] == synthetic.num_classes and info["bleu_tokenize"] == "13a"


def test_image_members_do_not_apply(synthetic):
    with pytest.raises(TypeError, match="token ids"):
        synthetic.normalize(torch.zeros(1, 2, 64))
    with pytest.raises(TypeError, match="token ids"):
        synthetic.denormalize(torch.zeros(1, 2, 64))
    assert not hasattr(synthetic, "mean") and not hasattr(synthetic, "std")


def test_too_long_pairs_dropped_in_train_cut_in_test():
    s = load("translation-synthetic", seed=0, max_len=20, **SMALL)
    enc = s.info["encoding"]
    assert 0 < enc["train"]["dropped_too_long"] < 240 and s.num_train == 240 - enc["train"]["dropped_too_long"]
    assert s.num_test == 40 and enc["test"]["truncated_sources"] > 0 and enc["test"]["truncated_targets"] > 0
    x, y = s.tensors("train")
    assert (x[:, 0] == EOS).sum(1).eq(1).all() and (y == EOS).sum(1).eq(1).all()  # every row whole
    x, y = s.tensors("test")
    cut = [i for i, ref in enumerate(s.references("test")) if len(s.tokenizer.encode(ref)) > 19]
    assert len(cut) == enc["test"]["truncated_targets"]
    for i in cut:  # the tensors hold the first 19 ids, the reference the full text
        full = s.tokenizer.encode(s.references("test")[i])
        assert _row_ids(y[i], EOS) == full[:19] and y[i, 19] == EOS
    cut = [i for i, src in enumerate(s.sources("test")) if len(s.tokenizer.encode(src)) > 19]
    assert len(cut) == enc["test"]["truncated_sources"]
    for i in cut:
        assert _row_ids(x[i, 0], EOS) == s.tokenizer.encode(s.sources("test")[i])[:19] and x[i, 0, 19] == EOS


def test_max_len_dropping_every_training_pair_raises():
    with pytest.raises(ValueError, match="max_len=3 drops all 240 training pairs"):
        load("translation-synthetic", seed=0, max_len=3, **SMALL)


def test_loaders_reproducible_resumable_and_ordered(synthetic):
    def epochs(loader, n):
        return [[(xb.clone(), yb.clone()) for xb, yb in loader] for _ in range(n)]

    a = synthetic.train_loader(50, seed=3)
    first, second = epochs(a, 2)
    again = epochs(synthetic.train_loader(50, seed=3, augment=False), 2)  # augment is ignored
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(first + second, again[0] + again[1]))
    assert not torch.equal(first[0][0], second[0][0])  # a new order each epoch
    assert first[0][0].dtype == torch.long and sum(len(b[1]) for b in first) == synthetic.num_train
    resumed = synthetic.train_loader(50, seed=0)
    b = synthetic.train_loader(50, seed=3)
    epochs(b, 1)
    resumed.load_state_dict(b.state_dict())
    assert all(torch.equal(p[0], q[0]) for p, q in zip(epochs(resumed, 1)[0], second))
    x, y = synthetic.tensors("test")
    batches = list(synthetic.eval_loader("test", 16))
    assert torch.equal(torch.cat([xb for xb, _ in batches]), x) and torch.equal(torch.cat([yb for _, yb in batches]), y)


def test_no_validation_split_without_val_fraction():
    s = load("translation-synthetic", seed=0, **SMALL)
    assert s.num_val == 0
    with pytest.raises(ValueError, match="val_fraction"):
        s.references("val")


# --- the tokenizer ---------------------------------------------------------------------------------------


TEXTS = ["wir sehen das haus .", "we see the house .", "das haus ist alt .", "the house is old ."] * 5


def test_tokenizer_is_deterministic_and_reloads():
    a, b = SubwordTokenizer.train(TEXTS, 40), SubwordTokenizer.train(TEXTS, 40)
    assert a.model_proto == b.model_proto and a.vocab_size == 40
    c = SubwordTokenizer(a.model_proto)
    assert c.encode("the old house .") == a.encode("the old house .")
    assert a.pieces()[:4] == ["<pad>", "<s>", "</s>", "<unk>"]


def test_tokenizer_encode_decode():
    tok = SubwordTokenizer.train(TEXTS, 40)
    ids = tok.encode("das haus ist alt .")
    assert ids and all(i > UNK for i in ids) and tok.decode(ids) == "das haus ist alt ."
    assert tok.decode([BOS, *ids, EOS, *ids, PAD]) == "das haus ist alt ."  # stops at EOS, skips BOS
    assert tok.decode(torch.tensor([PAD, *ids[:2], EOS, IGNORE])) == tok.decode(ids[:2])
    assert UNK in tok.encode("xyz")  # characters never seen in training
    with pytest.raises(ValueError, match="-100"):
        tok.decode([IGNORE])


def test_tokenizer_vocab_size_is_an_upper_bound_and_a_floor_is_checked():
    assert SubwordTokenizer.train(TEXTS, 5000).vocab_size < 5000
    with pytest.raises(ValueError, match="vocab_size=10"):
        SubwordTokenizer.train(TEXTS, 10)  # fewer pieces than the corpus has characters


# --- the synthetic language pair -------------------------------------------------------------------------


def _tiny_language(seed: int = 0, two_word_fraction: float = 0.5) -> SyntheticLanguage:
    return SyntheticLanguage(nouns=2, verbs=1, adjectives=1, adverbs=1, prepositions=1,
                             two_word_fraction=two_word_fraction, data_seed=seed)


def test_translation_is_a_function_of_the_source():
    sources, targets = _tiny_language().pairs(3000, np.random.default_rng(1))
    counts = Counter(sources)
    assert sum(c > 1 for c in counts.values()) > 20  # many sentences repeat: the check below means something
    seen = defaultdict(set)
    for src, tgt in zip(sources, targets):
        seen[src].add(tgt)
    assert all(len(t) == 1 for t in seen.values())


def test_deterministic_per_seed():
    a = load("translation-synthetic", seed=0, **SMALL)
    b = load("translation-synthetic", seed=0, **SMALL)
    c = load("translation-synthetic", seed=0, data_seed=1, **SMALL)
    for split in ("train", "test"):
        assert a.sources(split) == b.sources(split) and a.references(split) == b.references(split)
        assert all(torch.equal(p, q) for p, q in zip(a.tensors(split), b.tensors(split)))
        assert set(a.sources(split)).isdisjoint(c.sources(split))  # another language altogether
    assert a.tokenizer.model_proto == b.tokenizer.model_proto


def test_reordering_and_length_change_occur():
    lang = SyntheticLanguage(nouns=20, verbs=10, adjectives=10, adverbs=5, prepositions=5,
                             two_word_fraction=0.3, data_seed=0)
    sources, targets = lang.pairs(500, np.random.default_rng(1))
    dets, verbs = set(lang.words["determiners"]), set(lang.words["verbs"])
    assert {len(t) for t in lang.lexicon.values()} == {1, 2}
    lengths_differ = 0
    for src, tgt in zip(sources, targets):
        s, t = src.split(), tgt.split()
        verb = next(w for w in s if w in verbs)
        assert tuple(t[-len(lang.lexicon[verb]):]) == lang.lexicon[verb]  # verb-final
        assert not dets & set(t)  # determiners dropped
        plurals = sum(w == lang.words["determiners"][2] for w in s)
        assert t.count(lang.plural_marker) == plurals
        lengths_differ += len(s) != len(t)
    assert lengths_differ > len(sources) // 2
    # An adjective comes after its noun (and its plural marker): "det adj noun ..." -> "noun' (pl) adj' ...".
    adjectives, nouns = set(lang.words["adjectives"]), set(lang.words["nouns"])
    checked = 0
    for src, tgt in zip(sources, targets):
        det, adj, noun = src.split()[:3]
        if adj in adjectives and noun in nouns:
            plural = [lang.plural_marker] if det == lang.words["determiners"][2] else []
            expected = [*lang.lexicon[noun], *plural, *lang.lexicon[adj]]
            assert tgt.split()[: len(expected)] == expected
            checked += 1
    assert checked > 50


def _gloss(lang: SyntheticLanguage, source: str) -> str:
    """Word-by-word substitution in source order, determiners dropped: no reordering."""
    return " ".join(t for w in source.split() for t in lang.lexicon.get(w, ()))


def test_copy_scores_about_zero_and_a_gloss_far_from_100(synthetic):
    refs = synthetic.references("test")
    assert corpus_bleu(synthetic.sources("test"), refs, synthetic.bleu_tokenize) < 1.0
    lang = SyntheticLanguage(**{k: tr.SYNTHETIC_TRANSLATION_DEFAULTS[k] for k in
                                ("nouns", "verbs", "adjectives", "adverbs", "prepositions",
                                 "two_word_fraction", "data_seed")})
    gloss = corpus_bleu([_gloss(lang, s) for s in synthetic.sources("test")], refs)
    assert 1.0 < gloss < 50.0  # the right words in the wrong order
    decoded = [synthetic.tokenizer.decode(y) for y in synthetic.tensors("test")[1]]
    assert corpus_bleu(decoded, refs) == 100.0  # what a perfect model reaches


def test_bad_options_raise_before_any_work(monkeypatch):
    def must_not_run(**_):
        raise AssertionError("generation started before the options were checked")

    monkeypatch.setattr(tr, "SyntheticLanguage", must_not_run)
    for options, words in [({"nouns": 0}, ["nouns", "0"]), ({"max_len": 1}, ["max_len", "1"]),
                           ({"vocab_size": 4}, ["vocab_size", "4"]), ({"two_word_fraction": 1.5}, ["two_word_fraction"]),
                           ({"num_train": 2.5}, ["num_train", "2.5"]), ({"language": "x"}, ["language", "num_train"])]:
        with pytest.raises(ValueError) as err:
            load("translation-synthetic", **options)
        assert all(w in str(err.value) for w in words), str(err.value)


# --- iwslt14 ---------------------------------------------------------------------------------------------

# Lines in the style of prepare-iwslt14.sh's output (Moses-tokenised, lowercased), before BPE.
DE = {
    "train": [
        "vielen dank , chris .",
        "es ist mir wirklich eine ehre , zweimal auf dieser bühne stehen zu dürfen .",
        "ich bin wirklich begeistert von dieser konferenz .",
        "und ich möchte ihnen allen für die netten kommentare danken .",
        "das ist eine sehr gute frage .",
        "wir haben ein problem mit dem wasser .",
        "die welt verändert sich sehr schnell .",
        "ich zeige ihnen jetzt ein kurzes video .",
        "das ist nicht so einfach , wie es aussieht .",
        "wir müssen darüber reden .",
        "sie hat das buch gelesen .",
        "danke schön .",
    ],
    "valid": ["das wasser ist kalt .", "ich habe eine frage .", "wir sehen das video ."],
    "test": ["die konferenz ist sehr gut .", "vielen dank .", "sie reden über die welt ."],
}
EN = {
    "train": [
        "thank you so much , chris .",
        "it &apos;s truly a great honor to have the opportunity to come to this stage twice .",
        "i &apos;m extremely grateful to this conference .",
        "and i want to thank all of you for the nice comments .",
        "that &apos;s a very good question .",
        "we have a problem with the water .",
        "the world is changing very fast .",
        "i &apos;ll show you a short video now .",
        "it &apos;s not as simple as it looks .",
        "we need to talk about that .",
        "she has read the book .",
        "thank you .",
    ],
    "valid": ["the water is cold .", "i have a question .", "we see the video ."],
    "test": ["the conference is very good .", "thank you very much .", "they talk about the world ."],
}


def write_iwslt14(root, de=DE, en=EN):
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        (root / f"{split}.de").write_text("\n".join(de[split]) + "\n", encoding="utf-8")
        (root / f"{split}.en").write_text("\n".join(en[split]) + "\n", encoding="utf-8")
    return root


def test_iwslt14_reads_the_layout(tmp_path):
    s = load("iwslt14", root=write_iwslt14(tmp_path / "iwslt14"), vocab_size=200, max_len=96)
    assert s.name == "iwslt14" and s.bleu_tokenize == "none"
    assert (s.num_train, s.num_val, s.num_test) == (12, 3, 3)
    assert s.sources("train") == DE["train"] and s.references("train") == EN["train"]
    assert s.sources("val") == DE["valid"] and s.references("test") == EN["test"]
    assert s.info["lines"]["train.de"] == 12 and s.info["files"] == str(tmp_path / "iwslt14")
    x, y = s.tensors("train")
    assert [s.tokenizer.decode(row) for row in y] == EN["train"]
    assert [s.tokenizer.decode(row) for row in x[:, 0]] == DE["train"]
    assert corpus_bleu(s.references("test"), s.references("test"), s.bleu_tokenize) == 100.0


def test_iwslt14_direction_subsample_and_default_root(tmp_path, monkeypatch):
    write_iwslt14(tmp_path / "data" / "iwslt14")
    monkeypatch.setenv("GROWTH_DATA", str(tmp_path / "data"))
    s = load("iwslt14", source="en", target="de", vocab_size=200, subsample=0.5, seed=1)
    assert s.num_train == 6 and s.sources("test") == EN["test"] and s.references("val") == DE["valid"]
    kept = s.indices["train"].tolist()
    assert s.sources("train") == [EN["train"][i] for i in kept] and kept == sorted(kept)
    other = load("iwslt14", source="en", target="de", vocab_size=200, subsample=0.5, seed=2).indices["train"]
    same = load("iwslt14", source="en", target="de", vocab_size=200, subsample=0.5, seed=1).indices["train"]
    assert same.tolist() == kept and other.tolist() != kept


def test_iwslt14_long_training_pairs_are_dropped(tmp_path):
    s = load("iwslt14", root=write_iwslt14(tmp_path), vocab_size=200, max_len=8)
    dropped = s.info["encoding"]["train"]["dropped_too_long"]
    assert dropped > 0 and s.num_train == 12 - dropped and "danke schön ." in s.sources("train")


def test_iwslt14_missing_files_name_the_paths(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load("iwslt14", root=tmp_path / "nowhere")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "train.de") in msg and "prepare-iwslt14.sh" in msg
    root = write_iwslt14(tmp_path / "some")
    (root / "valid.en").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing: .*valid\.en"):
        load("iwslt14", root=root)


def test_iwslt14_misaligned_files_raise(tmp_path):
    de = dict(DE, valid=DE["valid"][:2])
    root = write_iwslt14(tmp_path, de=de)
    with pytest.raises(ValueError) as err:
        load("iwslt14", root=root)
    assert str(root / "valid.de") in str(err.value) and "2 lines" in str(err.value) and "3" in str(err.value)


def test_iwslt14_bad_options(tmp_path):
    root = write_iwslt14(tmp_path)
    for options, words in [({"source": "fr"}, ["source", "'fr'"]), ({"target": "de"}, ["source", "target"]),
                           ({"val_fraction": 0.1}, ["val_fraction", "valid.de"]), ({"max_len": 0}, ["max_len"])]:
        with pytest.raises(ValueError) as err:
            load("iwslt14", root=root, **options)
        assert all(w in str(err.value) for w in words), str(err.value)
