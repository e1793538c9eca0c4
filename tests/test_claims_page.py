"""tools/claims_page.py: the Claims page is made from the notebooks' records, counts included."""
import subprocess
import sys
from pathlib import Path

import pytest

from growth.claims import judge, not_run, write_claims

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import claims_page  # noqa: E402


def test_page_counts_and_lists_every_record(tmp_path):
    holds = judge([10, 11, 12], [1, 2, 3], kind="greater", margin=1, claim="a | b beats c")
    context = dict(paper="AutoGrow", notebook="nb1", where="Table 7", setting="profile bench")
    write_claims(tmp_path / "runs" / "nb1" / "claims.json",
                 [holds.record(**context), not_run("x", "needs CIFAR-10 on a GPU").record(**context)])
    toc = tmp_path / "_toc.yml"
    toc.write_text("chapters:\n  - file: book/notebooks/nb1\n  - file: book/notebooks/nb2\n")
    out = tmp_path / "claims.md"
    assert claims_page.main(["--runs", str(tmp_path / "runs"), "--toc", str(toc), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| AutoGrow | 1 | 0 | 0 | 1 | 0 | 2 |" in text  # holds, does not hold, inconclusive, not run, not judged
    assert "a \\| b beats c" in text and "**holds**" in text and "+9 points [" in text
    assert "needs CIFAR-10 on a GPU" in text
    assert "### {doc}`notebooks/nb1`" in text and "Paper: AutoGrow. Ours: profile bench." in text
    assert "- {doc}`notebooks/nb2`" in text.split("Pages without recorded verdicts")[1]


def test_unknown_verdicts_are_refused():
    with pytest.raises(ValueError, match="unknown verdicts"):
        claims_page.render([{"verdict": "holds at this scale"}], [])


def test_command_line_names_a_missing_toc(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "claims_page.py"), "--toc", str(tmp_path / "none.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--toc" in proc.stderr
