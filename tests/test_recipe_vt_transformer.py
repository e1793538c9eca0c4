"""The vt-transformer recipe (VT paper, Sec. 4.3, Table 5): its schedule, its rows, and the IWSLT'14 path."""
from __future__ import annotations

import pytest

from growth.recipes.vt_transformer import VARIANTS, plan, run_vt_transformer, vt_transformer_config
from test_translation_data import write_iwslt14


def test_paper_schedule_doubles_heads_and_ffns_from_an_eighth():
    """Sec. 4: 4 stages of 5 epochs, widths 64, 128, 256, 512 (heads 1, 2, 4, 8 of 64), d_model fixed."""
    stages = plan(vt_transformer_config("paper"))["stages"]
    assert [s["epochs"] for s in stages] == [5, 5, 5, 5]
    assert [s["channels"]["stages.0.0.attn"] for s in stages] == [64, 128, 256, 512]
    assert [s["channels"]["stages.1.5.cross"] for s in stages] == [64, 128, 256, 512]
    assert [s["channels"]["stages.1.5.ffn"] for s in stages] == [256, 512, 1024, 2048]
    assert {s["channels"]["model"] for s in stages} == {512}
    grown_all = plan(vt_transformer_config("paper", grow="all"))["stages"]
    assert [s["channels"]["model"] for s in grown_all] == [64, 128, 256, 512]
    assert [s["channels"]["model"] for s in plan(vt_transformer_config("paper", variant="large"))["stages"]] == [512]


def test_rows_differ_only_as_table_5_says():
    assert VARIANTS == {"large": (None, True, False), "net2net": ("net2net", False, False),
                        "ours-no-buffer": ("vt", False, False), "ours-buffer": ("vt", True, False),
                        "ours-buffer-ra": ("vt", True, True)}


@pytest.mark.parametrize("overrides, match", [
    ({"variant": "ours"}, "variant='ours'"), ({"grow": "some"}, "grow='some'"), ({"stages": 30}, "stages=30"),
    ({"norm": "mid"}, "norm='mid'"), ({"heads": 3, "c0": 0.5, "grow": "all", "d_model": 10}, "d_model"),
    ({"beam": 0}, "beam=0"),
])
def test_bad_configurations_name_the_parameter(overrides, match):
    with pytest.raises(ValueError, match=match):
        vt_transformer_config("smoke", **overrides)


def test_iwslt14_at_the_paper_profile_on_a_tiny_corpus(tmp_path):
    """The paper profile's code path (the iwslt14 loader, growth, BLEU on tokenised text) on a corpus of a
    dozen lines written in fairseq's layout, with a tiny model."""
    write_iwslt14(tmp_path / "iwslt14")
    config = vt_transformer_config("paper", data_root=str(tmp_path / "iwslt14"), model="Transformer-1-1", d_model=16,
                                   heads=2, head_dim=4, d_ff=16, epochs=2, stages=2, c0=0.5, beam=2, batch_size=4,
                                   device="cpu", dataset_options={"vocab_size": 80, "max_len": 24})
    run = run_vt_transformer(config)
    meta = run.history.meta
    assert meta["dataset"] == "iwslt14" and meta["channels"]["stages.0.0.attn"] == 8
    assert [e["kind"] for e in run.history.events] == ["grow"]
    assert meta["bleu"]["beam"]["sentences"] == 3 and 0.0 <= meta["bleu"]["beam"]["bleu"] <= 100.0
    assert meta["bleu"]["beam"]["examples"][0][2] == "the conference is very good ."
