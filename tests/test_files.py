"""Files a run writes: atomic writes, strict JSON, stale temporaries, writability checks, one writer."""
import json
import math
import os

import pytest

from growth.files import (FileBusyError, FileLock, atomic_write_json, atomic_write_text, check_writable,
                          remove_stale_temporaries, strict_json)
from growth.history import History


def test_failed_replace_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "h.json"
    atomic_write_text(path, "old")

    def boom(src, dst):
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json"]


def test_history_round_trip(tmp_path):
    h = History(meta={"profile": "smoke", "status": "complete"}, epochs=[{"epoch": 1, "val_acc": 50.0}, {"epoch": 2, "val_acc": 40.0}])
    h.events.append({"epoch": 1, "before": "A", "after": "B"})
    h.save(tmp_path / "run" / "h.json")
    back = History.load(tmp_path / "run" / "h.json")
    assert back == h
    assert back.series("val_acc") == [50.0, 40.0]
    assert back.best("val_acc") == 50.0 and back.last("val_acc") == 40.0
    assert json.loads((tmp_path / "run" / "h.json").read_text())["meta"]["profile"] == "smoke"


def test_atomic_json_creates_folders(tmp_path):
    atomic_write_json(tmp_path / "a" / "b.json", {"x": 1})
    assert json.loads((tmp_path / "a" / "b.json").read_text()) == {"x": 1}


def test_strict_json_has_no_nan_or_infinity(tmp_path):
    obj = {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": (2, {"d": math.nan})}
    assert strict_json(obj) == {"a": None, "b": [1.0, None, None], "c": [2, {"d": None}]}
    atomic_write_json(tmp_path / "x.json", obj)
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=pytest.fail)["b"] == [1.0, None, None]


def test_stale_temporaries_of_one_file_are_removed(tmp_path):
    target = tmp_path / "run.json"
    stale = [tmp_path / ".run.json.ab12_xy.tmp", tmp_path / ".run.json.zz99.tmp"]
    other = [tmp_path / ".other.json.ab12.tmp", tmp_path / "run.json.tmp"]
    for p in stale + other:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(target)) == sorted(stale)
    assert all(p.exists() for p in other) and not any(p.exists() for p in stale)


@pytest.mark.parametrize("make, word", [
    (lambda t: "", "path of a file"),
    (lambda t: t, "is a folder"),
    (lambda t: str(t) + "/", "is a folder"),
    (lambda t: (t.joinpath("f").write_text("x"), t / "f" / "h.json")[1], "is a file, not a folder"),
    (lambda t: "/proc/growth-no-such/h.json", "cannot be written"),
])
def test_check_writable_refuses_what_cannot_be_written(tmp_path, make, word):
    with pytest.raises(ValueError, match=word):
        check_writable(make(tmp_path), "out")
    assert not list(tmp_path.glob(".*.tmp"))


def test_check_writable_creates_folders(tmp_path):
    path = check_writable(tmp_path / "a" / "b" / "h.json", "out")
    assert path.parent.is_dir() and not path.exists() and not list(path.parent.iterdir())


def test_a_second_lock_on_one_file_is_refused_until_released(tmp_path):
    with FileLock(tmp_path / "h.json", "history"):
        with pytest.raises(FileBusyError, match=r"history .*h.json is being written by process \d+"):
            with FileLock(tmp_path / "h.json", "history"):
                pass
    with FileLock(tmp_path / "h.json", "history"):
        pass
