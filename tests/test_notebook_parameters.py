"""growth.notebook_parameters: what papermill injects is checked against the notebook's declared defaults."""
import re

import pytest

from growth.notebook_parameters import check_parameters, check_value, declared_parameters

CELL = '''# Parameters (defaults)
profile = "smoke"
epochs = 4
lr = 0.1
seeds = [0]
options = {"a": 1}
data_root = None
quick = False
width: float = 0.25
computed = 2 ** 3
'''


def test_declared_parameters_are_the_cells_assignments():
    assert declared_parameters(CELL) == {"profile": "smoke", "epochs": 4, "lr": 0.1, "seeds": [0], "options": {"a": 1},
                                         "data_root": None, "quick": False, "width": 0.25, "computed": None}


@pytest.mark.parametrize("name, value, default", [
    ("epochs", 10, 4), ("lr", 1, 0.1), ("lr", 0.5, 0.1), ("seeds", [0, 1], [0]), ("data_root", "data", None),
    ("quick", True, False), ("options", {}, {"a": 1}), ("profile", "bench", "smoke"), ("computed", "x", None),
])
def test_values_of_the_defaults_kind_pass(name, value, default):
    check_value(name, value, default)


@pytest.mark.parametrize("name, value, default, words", [
    ("epochs", "abc", 4, "an integer"), ("epochs", 2.5, 4, "an integer"), ("epochs", True, 4, "an integer"),
    ("lr", "fast", 0.1, "a number"), ("seeds", 0, [0], "a list"), ("quick", 1, False, "True or False"),
    ("options", [1], {"a": 1}, "a mapping"), ("profile", 3, "smoke", "a string"),
])
def test_values_of_another_kind_name_the_parameter(name, value, default, words):
    with pytest.raises(ValueError, match=re.escape(f"parameter {name}={value!r} is not allowed: {name} takes {words}")):
        check_value(name, value, default)


def _namespace(injected: str, **values):
    return {"In": ["", CELL, injected, "check_parameters(globals())"], **declared_parameters(CELL), **values}


def test_check_parameters_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="parameter no_such=1 is unknown: this notebook's parameters are profile, epochs"):
        check_parameters(_namespace("# Parameters\nno_such = 1\n", no_such=1))


def test_check_parameters_refuses_a_wrong_kind_and_passes_a_right_one():
    with pytest.raises(ValueError, match="parameter epochs='abc'"):
        check_parameters(_namespace('# Parameters\nepochs = "abc"\n', epochs="abc"))
    check_parameters(_namespace("# Parameters\nepochs = 10\nlr = 1\n", epochs=10, lr=1))


def test_nothing_injected_nothing_checked():
    check_parameters({"In": ["", CELL, "x = 1"], "epochs": "anything"})
    check_parameters({})
