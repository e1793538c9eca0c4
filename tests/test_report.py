"""growth.report: a page's bookkeeping and the formatting of its numbers, against hand-computed values."""
import pytest

from growth.report import describe_data


# --------------------------------------------------------------------------- Page

def _namespace(**extra):
    ns = {"profile": "bench", "seeds": [0, 1, 2, 3, 4], "device": "cpu", "epochs": 20}
    ns.update(extra)
    return ns


def test_page_picks_knobs_by_profile_and_limits_seeds():
    from growth.report import Page

    page = Page(_namespace(), notebook="nb", paper="AutoGrow")
    assert page.pick({"smoke": 1, "bench": 2, "paper": 3}) == 2 and page.pick(7) == 7
    assert Page(_namespace(profile="gpu-run"), notebook="nb", paper="x").pick({"bench": 2, "paper": 3}) == 2
    assert page.run_seeds({"bench": 3}) == [0, 1, 2] and page.run_seeds() == [0, 1, 2, 3, 4]


def test_page_refuses_a_notebook_without_the_page_parameters():
    from growth.report import Page

    with pytest.raises(ValueError, match="no parameter 'seeds'"):
        Page({"profile": "bench", "device": "cpu"}, notebook="nb", paper="x")


def test_page_records_its_claims_for_the_claims_page(tmp_path, capsys):
    from growth.claims import judge, read_claims
    from growth.report import Page

    page = Page(_namespace(), notebook="nb", paper="AutoGrow")
    line = page.setting(data="synthetic, 900 train", device="cpu", epochs="44 epochs", seeds=[0, 1, 2])
    assert line == "profile bench | synthetic, 900 train | device cpu | 44 epochs | 3 seeds (0, 1, 2)"
    v = page.claim(judge([3, 4, 5], [1, 1, 1], kind="greater", margin=1, claim="a beats b"), where="Table 7")
    out = capsys.readouterr().out
    assert out.startswith("ours: profile bench") and "[Table 7] holds: a beats b" in out
    (record,) = read_claims([page.write_claims(tmp_path)])
    assert record["verdict"] == v.verdict == "holds"
    assert (record["paper"], record["where"], record["notebook"], record["data"]) == (
        "AutoGrow", "Table 7", "nb", "synthetic, 900 train")
    assert record["setting"] == line


def test_mean_sd_by_hand():
    from growth.report import mean_sd

    assert mean_sd([70.0, 80.0]) == "75.00 ± 7.07"  # sample sd sqrt(50)
    assert mean_sd([3, 4, 8], digits=1) == "5.0 ± 2.6"  # sample sd sqrt(7)
    assert mean_sd([42.123]) == "42.12"
    with pytest.raises(ValueError, match="one value per seed"):
        mean_sd([])


def test_describe_data_names_what_a_number_was_measured_on():
    options = {"num_train": 1200, "num_test": 500, "num_classes": 40, "prototypes_per_class": 2, "difficulty": 1.0}
    assert describe_data("synthetic", options, val_fraction=0.1, augment=True) == (
        "synthetic, 1200 train / 500 test images, 40 classes, noise 1 (2 patterns a class), "
        "10% of train held out for validation, augmented")
    assert describe_data("synthetic", {"num_train": 8, "num_test": 4, "num_classes": 2}, augment=False) == (
        "synthetic, 8 train / 4 test images, 2 classes, noise 1, no augmentation")
    assert describe_data("cifar100", val_fraction=0.01) == "cifar100, 1% of train held out for validation"
    assert describe_data("imagenet", val_fraction=10_000 / 1_281_167) == (
        "imagenet, 0.781% of train held out for validation")
