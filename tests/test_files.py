"""Atomic writes: a failure midway leaves the previous file intact and no temporary behind."""
import json
import os

import pytest

from growth.files import atomic_write_json, atomic_write_text
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
    h = History(meta={"profile": "smoke"}, epochs=[{"epoch": 1, "val_acc": 50.0}, {"epoch": 2, "val_acc": 40.0}])
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
