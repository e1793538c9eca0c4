"""tools/check_book.py catches each defect it checks for, in a real headless Chromium.

Tiny pages, one defect each, go into a temporary "built book"; the checker runs once over all of
them (both window widths) and must fail each defective page for its own reason and pass the clean
one.  Skipped where Chromium is not installed (``make browser`` installs it).
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "check_book.py"

_spec = importlib.util.spec_from_file_location("check_book", CHECKER)
check_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_book)

# A 1x1 PNG, so the clean page has an image that loads.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2e5b5"
    "b00000000049454e44ae426082"
)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>body {{ margin: 0; font-family: sans-serif; }} article {{ max-width: 600px; padding: 8px; }}
.tag_parameters {{ {parameters_css} }}</style></head>
<body><article class="bd-article">
<h1>{name}</h1>
{body}
</article></body></html>
"""

CLEAN_BODY = """<p>A table that is a table, an image that loads, a hidden parameter cell.</p>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<img src="pixel.png" alt="pixel">
<div class="cell tag_parameters"><pre>epochs = 4</pre></div>
<pre>code keeps its own | a | b | and \\(x\\) and \\frac{1}{2}</pre>
"""

# name -> (body, CSS of .tag_parameters, what the failure line must contain)
DEFECTS = {
    "raw_pipe_table": ("<p>| a | b |\n|---|---|\n| 1 | 2 |</p>", "display: none", "raw pipe table"),
    "raw_tex": ('<p>The rate <span class="math notranslate nohighlight">\\(x\\)</span> is small.</p>', "display: none",
                "raw TeX"),
    "broken_image": ('<img src="missing.png" alt="missing">', "display: none", "image not loaded: missing.png"),
    "visible_parameters": ('<div class="cell tag_parameters"><pre>epochs = 4</pre></div>', "",
                           "parameter cell rendered"),
    "wider_than_viewport": ('<div style="width: 2000px">wide</div>', "display: none", "px wide in a"),
    "scroll_box": ('<pre style="overflow-x: auto; white-space: pre">' + "x" * 400 + "</pre>", "display: none",
                   "scrolls horizontally"),
}


def parse(stdout: str) -> dict[str, list[str]]:
    """The checker's report as {page name: failure lines}, [] for a page that passed."""
    pages: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        m = re.match(r"^(OK|FAIL)\s+(\S+)", line)
        if m:
            current = Path(m.group(2)).stem
            pages[current] = []
        elif line.startswith("    ") and current:
            pages[current].append(line.strip())
    return pages


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    chromium = check_book.find_chromium(None)
    if not chromium:
        pytest.skip("Chromium is not installed (make browser installs it)")
    html = tmp_path_factory.mktemp("html")
    (html / "pixel.png").write_bytes(PNG)
    (html / "clean.html").write_text(PAGE.format(name="clean", body=CLEAN_BODY, parameters_css="display: none"))
    for name, (body, parameters_css, _) in DEFECTS.items():
        (html / f"{name}.html").write_text(PAGE.format(name=name, body=body, parameters_css=parameters_css))
    # Pages the checker skips: a redirect, and the build's own folders.
    (html / "index.html").write_text('<meta http-equiv="refresh" content="0; url=clean.html">')
    (html / "_static").mkdir()
    (html / "_static" / "broken.html").write_text(PAGE.format(name="x", body="<p>| a |</p>", parameters_css=""))
    proc = subprocess.run([sys.executable, str(CHECKER), "--html", str(html), "--chromium", chromium, "--jobs", "3",
                           "--budget", "5000"], capture_output=True, text=True, timeout=120)
    return proc, parse(proc.stdout)


def test_clean_page_passes(report):
    proc, pages = report
    assert pages.get("clean") == [], proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_is_caught(report, name):
    proc, pages = report
    expected = DEFECTS[name][2]
    failures = pages.get(name)
    assert failures, f"{name} was not failed:\n{proc.stdout}{proc.stderr}"
    assert any(expected in f for f in failures), f"{name}: no failure with {expected!r} in {failures}"


def test_untypeset_math_is_caught(report):
    _, pages = report
    assert any("math not rendered" in f for f in pages["raw_tex"]), pages["raw_tex"]


def test_both_widths_and_exit_status(report):
    proc, pages = report
    assert proc.returncode == 1
    wide = pages["wider_than_viewport"]
    assert any("[1280px]" in f and "in a 1280 px viewport" in f for f in wide), wide
    assert any("[800px]" in f and "in a 800 px viewport" in f for f in wide), wide
    assert "SKIP index.html (redirect" in proc.stdout
    assert "broken" not in pages  # _static is not a page of the book
    assert re.search(r"7 pages checked at 1280px, 800px in \d+ s: 1 OK, 6 failed", proc.stdout), proc.stdout


def test_missing_book_or_browser_exits_2(tmp_path):
    missing = subprocess.run([sys.executable, str(CHECKER), "--html", str(tmp_path / "nothing")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "make html" in missing.stderr
    (tmp_path / "page.html").write_text("<p>x</p>")
    no_browser = subprocess.run([sys.executable, str(CHECKER), "--html", str(tmp_path), "--chromium",
                                 str(tmp_path / "no-such-chromium")], capture_output=True, text=True)
    assert no_browser.returncode == 2 and "Chromium not found" in no_browser.stderr
