"""Translation pairs as token tensors, for the encoder-decoder Transformer of the Variance Transfer paper's
Table 5 (IWSLT'14 De-En): a subword tokenizer, :class:`TranslationSplits`, and two datasets.

Example::

    splits = load("translation-synthetic", num_train=2000, val_fraction=0.1, seed=0)
    splits = load("iwslt14", root="data/iwslt14", max_len=128, vocab_size=10000)
    for x, y in splits.train_loader(64, seed=0):     # x (B, 2, L) int64, y (B, L) int64
        src, tgt_in = x[:, 0], x[:, 1]               # source ids + EOS; BOS + target ids (decoder input)
        ...                                          # y: target ids + EOS, IGNORE where x is padding
    hyps = [splits.tokenizer.decode(ids) for ids in model_output_ids]
    corpus_bleu(hyps, splits.references("test"), tokenize=splits.bleu_tokenize)  # growth.measure.bleu

**Tensors** of a split (``tensors(split)``, and the loaders' batches): ``x`` int64 ``(N, 2, L)``,
``L = max_len``: ``x[:, 0]`` the source ids followed by ``EOS`` then ``PAD``; ``x[:, 1]`` ``BOS`` followed
by the target ids then ``PAD`` (the decoder's input, teacher forcing); ``y`` int64 ``(N, L)``: the target
ids followed by ``EOS`` then ``IGNORE`` (-100, ``CrossEntropyLoss``'s default ``ignore_index``), so
``y[:, t]`` is the token to predict after reading ``x[:, 1, :t + 1]``. A training pair whose source or
target does not fit (more than ``L - 1`` ids) is dropped; a validation or test pair is kept, its source
and target ids cut to ``L - 1``, while ``sources(split)`` / ``references(split)`` keep the full text
(BLEU is scored against the full reference). ``info`` counts both. Splits keep the corpus order.

**Tokenizer** (:class:`SubwordTokenizer`): a sentencepiece BPE model (Kudo and Richardson 2018) with one
vocabulary shared by both languages, trained on the training split's source and target sentences
(after ``subsample`` and the validation hold-out). It is deterministic: one thread, every sentence
used (no sampling, no shuffling), identity normalisation (``decode(encode(s)) == s`` up to runs of
spaces, for characters seen in training; unseen ones become ``UNK``), so the same corpus gives the same
ids on every machine. ``vocab_size`` is an upper bound: a corpus too small for it gets fewer pieces
(``splits.num_classes`` is the real size, the logits' size). The model lives in memory
(``tokenizer.model_proto``, the serialised bytes, reloads with ``SubwordTokenizer(proto)``, e.g. from
a checkpoint); nothing is written beside the data, and every ``load`` trains it anew: on 160,000
synthetic pairs, one core, training took about 1 s and encoding 4 s (IWSLT'14 itself, with its larger
vocabulary, was not at hand to time).

**Image-only members** of :class:`~growth.data.core.DataSplits`: there are no ``mean`` / ``std``
attributes, and ``normalize`` / ``denormalize`` raise ``TypeError`` (token ids are not normalised);
``train_loader``'s ``augment`` is accepted and ignored (no augmentation applies to tokens);
``classes`` are the vocabulary's pieces.

**Datasets** (``load``'s ``subsample`` and ``val_fraction`` draw seeded, plain (unstratified) fractions
of the training pairs, with :mod:`growth.data.splits`, in that order):

* ``translation-synthetic``: a seeded artificial language pair (:class:`SyntheticLanguage`). Sentences
  of a small source grammar ``S -> NP V NP (Adv)``, ``NP -> Det Adj{0,2} N (PP)``, ``PP -> Prep NP``
  over invented words, rendered in the target language by a seeded dictionary (every source word to one
  target word, or with probability ``two_word_fraction`` to two), with reordering (verb-final: subject,
  object, adverb, verb; adjectives after their noun; prepositions become postpositions) and length change
  (determiners dropped; a plural determiner becomes a plural marker word after the noun; two-word
  renderings). What it can show: that a model learns a deterministic mapping that needs attention
  beyond copying and beyond word-by-word substitution (BLEU from about 0 to 100, as the test set has one
  right answer), and how fast, at CPU scale. What it cannot: it is not IWSLT: no ambiguity (a source
  sentence has exactly one translation, so BLEU 100 is reachable), no morphology or agreement over long
  distances, no rare words (a closed vocabulary of some hundred words, every one seen in training),
  short sentences; numbers on it are never IWSLT numbers. ``data_seed`` draws the language and the
  sentences (train and test from separate streams; test sentences may repeat training ones, counted in
  ``info["test_in_train"]``); ``load``'s ``seed`` draws the splits. BLEU with ``"13a"`` (plain words).
* ``iwslt14``: IWSLT'14 German-English (Cettolo et al. 2014) as fairseq's ``prepare-iwslt14.sh`` leaves
  it before its BPE step: ``train.de train.en valid.de valid.en test.de test.en`` under ``root``
  (default ``$GROWTH_DATA/iwslt14``), one tokenised, lowercased sentence per line, line i of ``.de``
  the translation of line i of ``.en``. ``valid`` is the validation split (so ``val_fraction`` must be
  0) and ``test`` the test split. ``source`` / ``target`` choose the direction. BLEU with ``"none"``:
  the text is already tokenised, and IWSLT'14 BLEU is conventionally reported on those tokens.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .core import EVAL_SPLITS, HeldSplits
from .loaders import TensorLoader
from .registry import (
    DatasetSpec,
    check_float,
    check_int,
    missing_data_error,
    register_dataset,
)
from .splits import subsample_indices, validation_split

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "IGNORE",
    "SubwordTokenizer",
    "TranslationSplits",
    "SyntheticLanguage",
    "SYNTHETIC_TRANSLATION_DEFAULTS",
    "IWSLT14_FILES",
    "encode_pairs",
    "read_parallel",
]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
IGNORE = -100


# --- tokenizer -----------------------------------------------------------------------------------------


class SubwordTokenizer:
    """A sentencepiece model held in memory (``model_proto``: its serialised bytes); ids as in the module
    constants ``PAD, BOS, EOS, UNK``. :meth:`train` makes one; ``SubwordTokenizer(proto)`` reloads one."""

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece

        self.model_proto = bytes(model_proto)
        self._sp = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)
        specials = (self._sp.pad_id(), self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id())
        if specials != (PAD, BOS, EOS, UNK):
            raise ValueError(f"model_proto has special ids (pad, bos, eos, unk) = {specials}; "
                             f"this package needs {(PAD, BOS, EOS, UNK)}")

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> SubwordTokenizer:
        """A BPE model of at most ``vocab_size`` pieces (specials included) over ``texts``, deterministic."""
        import io

        import sentencepiece

        vocab_size = check_int("vocab_size", vocab_size, minimum=8)
        proto = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(list(texts)), model_writer=proto, model_type="bpe",
                vocab_size=vocab_size, hard_vocab_limit=False, character_coverage=1.0,
                normalization_rule_name="identity", pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK,
                num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2,
            )
        except RuntimeError as err:  # e.g. fewer pieces allowed than the corpus has characters
            raise ValueError(f"vocab_size={vocab_size!r} cannot tokenize this corpus: sentencepiece says "
                             f"{str(err).split('] ')[-1]}") from None
        return cls(proto.getvalue())

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    def pieces(self) -> list[str]:
        """The vocabulary: piece ``i`` is the text of id ``i``."""
        return [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def encode(self, text: str) -> list[int]:
        """``text`` as ids, without BOS or EOS."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        return list(self._sp.encode(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of every text, in one call."""
        return [list(ids) for ids in self._sp.encode(list(texts))]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` (a list, or a 1-D tensor or array) up to the first EOS; PAD and BOS skipped."""
        kept = []
        for i in ids.tolist() if hasattr(ids, "tolist") else ids:
            i = int(i)
            if i == EOS:
                break
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"ids: {i} is not an id of this vocabulary, [0, {self.vocab_size})")
            if i not in (PAD, BOS):
                kept.append(i)
        return self._sp.decode(kept)

    def __repr__(self) -> str:
        return f"SubwordTokenizer(vocab_size={self.vocab_size})"


# --- tensors -------------------------------------------------------------------------------------------


def encode_pairs(
    tokenizer: SubwordTokenizer, sources: Sequence[str], targets: Sequence[str], max_len: int, *, truncate: bool
) -> tuple[Tensor, Tensor, np.ndarray, dict[str, int]]:
    """Pairs as the module doc's ``(x, y)``; ``truncate=False`` drops pairs that do not fit,
    ``truncate=True`` cuts their ids. Returns ``x``, ``y``, the indices of the pairs kept, and counts."""
    room = max_len - 1  # one position goes to EOS (source, y) or BOS (decoder input)
    src_ids, tgt_ids = tokenizer.encode_batch(sources), tokenizer.encode_batch(targets)
    fits = [len(s) <= room and len(t) <= room for s, t in zip(src_ids, tgt_ids)]
    counts = {"pairs": len(fits), "longest_source": max(map(len, src_ids), default=0),
              "longest_target": max(map(len, tgt_ids), default=0)}
    if truncate:
        kept = np.arange(len(fits), dtype=np.int64)
        counts["truncated_sources"] = sum(len(s) > room for s in src_ids)
        counts["truncated_targets"] = sum(len(t) > room for t in tgt_ids)
    else:
        kept = np.flatnonzero(fits).astype(np.int64)
        counts["dropped_too_long"] = len(fits) - len(kept)
    x = np.full((len(kept), 2, max_len), PAD, dtype=np.int64)
    y = np.full((len(kept), max_len), IGNORE, dtype=np.int64)
    for row, i in enumerate(kept):
        s, t = src_ids[i][:room], tgt_ids[i][:room]
        x[row, 0, : len(s)] = s
        x[row, 0, len(s)] = EOS
        x[row, 1, 0] = BOS
        x[row, 1, 1 : len(t) + 1] = t
        y[row, : len(t)] = t
        y[row, len(t)] = EOS
    return torch.from_numpy(x), torch.from_numpy(y), kept, counts


class TranslationSplits(HeldSplits):
    """Train / val / test translation pairs as token tensors on ``device`` (layout: the module doc).

    Attributes beyond :class:`~growth.data.core.DataSplits`': ``tokenizer``, ``max_len``, ``input_dtype``
    (``torch.long``), ``bleu_tokenize`` (the sacreBLEU tokenizer to score this dataset with).
    """

    input_dtype = torch.long

    def __init__(
        self,
        name: str,
        *,
        tokenizer: SubwordTokenizer,
        max_len: int,
        bleu_tokenize: str,
        tensors: dict[str, tuple[Tensor, Tensor]],
        texts: dict[str, tuple[list[str], list[str]]],
        device: torch.device,
        info: dict[str, Any],
        indices: dict[str, Any],
    ) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.num_classes = tokenizer.vocab_size
        self.classes = tokenizer.pieces()
        self.max_len = int(max_len)
        self.input_shape = (2, self.max_len)
        self.bleu_tokenize = bleu_tokenize
        self.device = device
        self._data = {s: (x.to(device), y.to(device)) for s, (x, y) in tensors.items()}
        self._texts = texts
        self.info = dict(info)
        self.indices = dict(indices)


    def sources(self, split: str) -> list[str]:
        """The source sentences of ``split``, full text, in the eval loader's order."""
        self._check_split(split)
        return list(self._texts[split][0])

    def references(self, split: str) -> list[str]:
        """The target sentences of ``split``, full text (even where the tensors cut them), in order."""
        self._check_split(split)
        return list(self._texts[split][1])

    def train_loader(self, batch_size: int, *, seed: int, augment: bool = True) -> TensorLoader:
        """Shuffled (a new order each epoch, from ``seed``; resumable via ``state_dict``); ``augment`` ignored."""
        x, y = self._data["train"]
        return TensorLoader(x, y, batch_size, shuffle=True, seed=seed, augment=False)

    def normalize(self, x: Tensor) -> Tensor:
        raise TypeError(f"{self.name}: inputs are token ids, not images; there is no normalisation")

    def denormalize(self, x: Tensor) -> Tensor:
        raise TypeError(f"{self.name}: inputs are token ids, not images; there is no normalisation")


def _split_train(num_pairs: int, *, subsample: float, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation pairs: a seeded ``subsample`` fraction of all training pairs,
    then a seeded ``val_fraction`` of those held out (one class: plain random draws, sorted)."""
    kept = subsample_indices(np.zeros(num_pairs, dtype=np.int64), subsample, seed)
    train_rel, val_rel = validation_split(np.zeros(len(kept), dtype=np.int64), val_fraction, seed)
    return kept[train_rel], kept[val_rel]


def _make_splits(
    name: str,
    corpus: dict[str, tuple[list[str], list[str]]],
    *,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    max_len: int,
    vocab_size: int,
    bleu_tokenize: str,
    device: torch.device,
    info: dict[str, Any],
) -> TranslationSplits:
    """``corpus``: ``"train"`` and ``"test"`` (and ``"val"`` when the dataset has its own) (sources, targets);
    ``train_idx`` / ``val_idx`` index ``corpus["train"]`` (``val_idx`` empty when ``"val"`` is given)."""
    pick = {"train": ("train", train_idx), "val": ("val", None) if "val" in corpus else ("train", val_idx),
            "test": ("test", None)}
    texts, origin = {}, {}
    for split, (part, idx) in pick.items():
        src, tgt = corpus[part]
        if idx is None:
            idx = np.arange(len(src), dtype=np.int64)
        texts[split] = ([src[i] for i in idx], [tgt[i] for i in idx])
        origin[split] = idx
    tokenizer = SubwordTokenizer.train(texts["train"][0] + texts["train"][1], vocab_size)
    tensors, indices, counts = {}, {}, {}
    for split in EVAL_SPLITS:
        x, y, kept, counts[split] = encode_pairs(tokenizer, *texts[split], max_len, truncate=split != "train")
        if split == "train" and len(kept) == 0:
            raise ValueError(f"{name}: max_len={max_len} drops all {len(texts['train'][0])} training pairs (each has "
                             f"a source or target of more than max_len - 1 ids); use a larger max_len")
        tensors[split] = (x, y)
        indices[split] = origin[split][kept]
        texts[split] = ([texts[split][0][i] for i in kept], [texts[split][1][i] for i in kept])
    info = dict(info)
    info.update({
        "num_train": len(indices["train"]), "num_val": len(indices["val"]), "num_test": len(indices["test"]),
        "max_len": max_len, "encoding": counts, "bleu_tokenize": bleu_tokenize,
        "tokenizer": {"kind": "sentencepiece bpe", "vocab_size_asked": vocab_size,
                      "vocab_size": tokenizer.vocab_size,
                      "sha256": hashlib.sha256(tokenizer.model_proto).hexdigest()},
    })
    return TranslationSplits(name, tokenizer=tokenizer, max_len=max_len, bleu_tokenize=bleu_tokenize,
                             tensors=tensors, texts=texts, device=device, info=info, indices=indices)


def _check_lengths(opts: dict) -> None:
    check_int("max_len", opts["max_len"], minimum=2)
    check_int("vocab_size", opts["vocab_size"], minimum=8)


# --- translation-synthetic -------------------------------------------------------------------------------

SYNTHETIC_TRANSLATION_DEFAULTS = {
    "num_train": 10000,
    "num_test": 1000,
    "nouns": 24,
    "verbs": 12,
    "adjectives": 12,
    "adverbs": 6,
    "prepositions": 6,
    "two_word_fraction": 0.25,
    "max_len": 64,
    "vocab_size": 256,
    "data_seed": 0,
}

#: Word classes of the source grammar whose sizes are options, and the letters of each language's words
#: (disjoint consonants: no source word is a target word, so copying the source scores about 0 BLEU).
_WORD_CLASSES = ("nouns", "verbs", "adjectives", "adverbs", "prepositions")
_SOURCE_CONSONANTS, _TARGET_CONSONANTS, _VOWELS = "bdgklmnpt", "fhjrsvwz", "aeiou"
_MAX_ADJECTIVES = 2  # per noun phrase
_PP_PROBABILITY = 0.3  # a noun phrase (not one inside a PP) takes a prepositional phrase
_ADVERB_PROBABILITY = 0.5
_LANGUAGE_STREAM, _TRAIN_STREAM, _TEST_STREAM = 0, 1, 2


def _invent_words(rng: np.random.Generator, count: int, consonants: str, syllables: tuple[int, int],
                  taken: set[str]) -> list[str]:
    """``count`` new distinct words of consonant-vowel syllables (between ``syllables`` of them), not in
    ``taken`` (which receives them)."""
    words: list[str] = []
    while len(words) < count:
        n = int(rng.integers(syllables[0], syllables[1] + 1))
        word = "".join(consonants[rng.integers(len(consonants))] + _VOWELS[rng.integers(len(_VOWELS))]
                       for _ in range(n))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


class SyntheticLanguage:
    """A seeded source language and its translation rules (the module doc's ``translation-synthetic``).

    ``words[c]``: the source words of class ``c`` (``"determiners"``: two singular ones then the plural one;
    ``"nouns"``, ``"verbs"``, ``"adjectives"``, ``"adverbs"``, ``"prepositions"``); ``lexicon[w]``: the target words of source word ``w`` (determiners have
    none); ``plural_marker``: the target word after a plural noun.
    """

    def __init__(self, *, nouns: int, verbs: int, adjectives: int, adverbs: int, prepositions: int,
                 two_word_fraction: float, data_seed: int) -> None:
        rng = np.random.default_rng([data_seed, _LANGUAGE_STREAM])
        sizes = {"nouns": nouns, "verbs": verbs, "adjectives": adjectives, "adverbs": adverbs,
                 "prepositions": prepositions}
        source_taken: set[str] = set()
        target_taken: set[str] = set()
        self.words = {"determiners": _invent_words(rng, 3, _SOURCE_CONSONANTS, (1, 1), source_taken)}
        for cls in _WORD_CLASSES:
            short = cls == "prepositions"
            self.words[cls] = _invent_words(rng, sizes[cls], _SOURCE_CONSONANTS, (1, 2) if short else (2, 3),
                                            source_taken)
        self.plural_marker = _invent_words(rng, 1, _TARGET_CONSONANTS, (1, 1), target_taken)[0]
        self.lexicon: dict[str, tuple[str, ...]] = {}
        for cls in _WORD_CLASSES:
            for word in self.words[cls]:
                n = 2 if cls != "prepositions" and rng.random() < two_word_fraction else 1
                self.lexicon[word] = tuple(_invent_words(rng, n, _TARGET_CONSONANTS, (2, 3), target_taken))

    def _pick(self, rng: np.random.Generator, cls: str) -> str:
        return self.words[cls][int(rng.integers(len(self.words[cls])))]

    def _noun_phrase(self, rng: np.random.Generator, with_pp: bool) -> tuple[list[str], list[str]]:
        det = int(rng.integers(3))  # 0, 1: singular determiners; 2: the plural one
        adjectives = [self._pick(rng, "adjectives") for _ in range(int(rng.integers(_MAX_ADJECTIVES + 1)))]
        noun = self._pick(rng, "nouns")
        source = [self.words["determiners"][det], *adjectives, noun]
        target = [*self.lexicon[noun], *([self.plural_marker] if det == 2 else [])]
        target += [t for a in adjectives for t in self.lexicon[a]]
        if with_pp and rng.random() < _PP_PROBABILITY:
            prep = self._pick(rng, "prepositions")
            inner_source, inner_target = self._noun_phrase(rng, with_pp=False)
            source += [prep, *inner_source]
            target += [*inner_target, *self.lexicon[prep]]
        return source, target

    def sentence(self, rng: np.random.Generator) -> tuple[str, str]:
        """One (source, target) pair: ``S -> NP V NP (Adv)`` rendered as ``NP' NP' (Adv') V'``."""
        subject, subject_t = self._noun_phrase(rng, with_pp=True)
        verb = self._pick(rng, "verbs")
        obj, obj_t = self._noun_phrase(rng, with_pp=True)
        adverb = [self._pick(rng, "adverbs")] if rng.random() < _ADVERB_PROBABILITY else []
        source = [*subject, verb, *obj, *adverb]
        target = [*subject_t, *obj_t, *(t for a in adverb for t in self.lexicon[a]), *self.lexicon[verb]]
        return " ".join(source), " ".join(target)

    def pairs(self, count: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
        """``count`` sentences drawn from ``rng``: (sources, targets)."""
        drawn = [self.sentence(rng) for _ in range(count)]
        return [s for s, _ in drawn], [t for _, t in drawn]


def _synthetic_check(root: Path | None, opts: dict) -> None:
    check_int("num_train", opts["num_train"], minimum=1)
    check_int("num_test", opts["num_test"], minimum=1)
    for cls in _WORD_CLASSES:
        check_int(cls, opts[cls], minimum=1, maximum=1000)
    check_float("two_word_fraction", opts["two_word_fraction"], low=0.0, high=1.0)
    check_int("data_seed", opts["data_seed"], minimum=0)
    _check_lengths(opts)


def _synthetic_build(root: Path | None, opts: dict, *, val_fraction: float, subsample: float, seed: int,
                     device: torch.device, info: dict[str, Any]) -> TranslationSplits:
    language = SyntheticLanguage(**{k: opts[k] for k in (*_WORD_CLASSES, "two_word_fraction", "data_seed")})
    train = language.pairs(opts["num_train"], np.random.default_rng([opts["data_seed"], _TRAIN_STREAM]))
    test = language.pairs(opts["num_test"], np.random.default_rng([opts["data_seed"], _TEST_STREAM]))
    train_idx, val_idx = _split_train(opts["num_train"], subsample=subsample, val_fraction=val_fraction, seed=seed)
    info = dict(info)
    seen = set(train[0])
    info.update({"source": "generated (growth.data.translation.SyntheticLanguage)",
                 "test_in_train": sum(s in seen for s in test[0]),
                 "source_words": sum(len(w) for w in language.words.values()),
                 "target_words": 1 + sum(len(t) for t in language.lexicon.values())})
    return _make_splits("translation-synthetic", {"train": train, "test": test}, train_idx=train_idx,
                        val_idx=val_idx, max_len=opts["max_len"], vocab_size=opts["vocab_size"],
                        bleu_tokenize="13a", device=device, info=info)


register_dataset(
    DatasetSpec(
        name="translation-synthetic",
        description="a seeded artificial language pair (reordering, length change, closed vocabulary), "
        "token ids (2, max_len)",
        defaults=SYNTHETIC_TRANSLATION_DEFAULTS,
        check=_synthetic_check,
        build=_synthetic_build,
        kind="tokens",
    )
)


# --- iwslt14 -------------------------------------------------------------------------------------------

IWSLT14_LANGUAGES = ("de", "en")
IWSLT14_FILES = tuple(f"{split}.{lang}" for split in ("train", "valid", "test") for lang in IWSLT14_LANGUAGES)


def read_parallel(source: Path, target: Path) -> tuple[list[str], list[str]]:
    """Two aligned files, one sentence per line (UTF-8; surrounding spaces stripped): (sources, targets).
    Different line counts raise ``ValueError`` naming both files and counts."""
    texts = []
    for path in (source, target):
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline ends the last line
        texts.append([line.strip() for line in lines])
    if len(texts[0]) != len(texts[1]):
        raise ValueError(f"{source} has {len(texts[0])} lines but {target} has {len(texts[1])}: the files of a "
                         "split must be aligned line by line (line i of one translates line i of the other)")
    return texts[0], texts[1]


def _iwslt_check(root: Path, opts: dict) -> None:
    for param in ("source", "target"):
        if opts[param] not in IWSLT14_LANGUAGES:
            raise ValueError(f"{param} must be one of {IWSLT14_LANGUAGES}, got {opts[param]!r}")
    if opts["source"] == opts["target"]:
        raise ValueError(f"source and target must differ, got source={opts['source']!r}, target={opts['target']!r}")
    _check_lengths(opts)
    paths = [root / name for name in IWSLT14_FILES]
    if not all(p.is_file() for p in paths):
        raise missing_data_error(
            "iwslt14", paths,
            f"Expected the layout that fairseq's examples/translation/prepare-iwslt14.sh writes before its BPE "
            f"step (its iwslt14.tokenized.de-en/tmp folder): {', '.join(IWSLT14_FILES)}, one tokenised "
            f"sentence per line, line i of a .de file aligned with line i of the .en file. Pass root=<that "
            f"folder>.",
            subdir="/iwslt14",
        )


def _iwslt_build(root: Path, opts: dict, *, val_fraction: float, subsample: float, seed: int,
                 device: torch.device, info: dict[str, Any]) -> TranslationSplits:
    if val_fraction != 0.0:
        raise ValueError(f"iwslt14: val_fraction={val_fraction!r} is not allowed: the dataset has its own "
                         "validation split (valid.de, valid.en); use val_fraction=0")
    src, tgt = opts["source"], opts["target"]
    corpus, files = {}, {}
    for split, stem in (("train", "train"), ("val", "valid"), ("test", "test")):
        corpus[split] = read_parallel(root / f"{stem}.{src}", root / f"{stem}.{tgt}")
        files[f"{stem}.{src}"] = files[f"{stem}.{tgt}"] = len(corpus[split][0])
    if not corpus["train"][0]:
        raise ValueError(f"iwslt14: {root / f'train.{src}'} is empty: no training pairs")
    train_idx, val_idx = _split_train(len(corpus["train"][0]), subsample=subsample, val_fraction=0.0, seed=seed)
    info = dict(info)
    info.update({"files": str(root), "lines": files})
    return _make_splits("iwslt14", corpus, train_idx=train_idx, val_idx=val_idx,
                        max_len=opts["max_len"], vocab_size=opts["vocab_size"], bleu_tokenize="none",
                        device=device, info=info)


register_dataset(
    DatasetSpec(
        name="iwslt14",
        description="IWSLT'14 De-En from root/{train,valid,test}.{de,en} (fairseq's prepare-iwslt14.sh, "
        "before BPE), token ids (2, max_len)",
        defaults={"source": "de", "target": "en", "max_len": 128, "vocab_size": 10000},
        check=_iwslt_check,
        build=_iwslt_build,
        kind="tokens",
        uses_root=True,
        default_subdir="iwslt14",
    )
)
