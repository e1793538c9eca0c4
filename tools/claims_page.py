#!/usr/bin/env python
"""Write the book's "Claims" page from the verdicts the executed notebooks recorded.

    python tools/claims_page.py [--runs book/notebooks/runs] [--toc book/_toc.yml] [--out book/claims.md]

Every book notebook that judges claims writes them, through ``growth.report.Page.write_claims``, to
``runs/<notebook>/claims.json`` beside its runs. This script reads those files and writes one page:
counts per paper and per verdict, then a section per notebook (its link and setting) with one row
per claim (table or figure, claim, verdict, effect and interval). Notebooks of the table of contents that wrote
no claims file are listed as such. Nothing on the page is typed: `make html` runs this script
before every build, and the page is not kept in git.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from growth.claims import VERDICTS, read_claims  # noqa: E402

HEADER = """# Claims

Every claim of the papers that a notebook of this book tests, with the verdict our runs gave under
the book's {doc}`statistics`. This page is generated from the records the notebooks write when
they run (`tools/claims_page.py`); nothing on it is typed. A verdict holds at the profile and on
the data it names, not on the paper's datasets.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _effect(r: dict) -> str:
    if r.get("effect") is None:
        parts = "; ".join(r.get("details") or [])
        return "; ".join(t for t in (r.get("reason"), parts) if t)
    lo, hi = r["interval"]
    n = r.get("n") or [0, 0]
    text = (f"{r['effect']:+.3g} {r.get('units', '')} [{lo:+.3g}, {hi:+.3g}], margin {r['margin']:g}, "
            f"{n[0]} vs {n[1]} seeds")
    return text + (f"; {r['reason']}" if r.get("reason") else "")


def book_notebooks(toc: Path) -> list[str]:
    """The notebooks of the book, in the order of its table of contents."""
    return re.findall(r"file:\s*book/notebooks/(\S+)\s*$", toc.read_text(encoding="utf-8"), flags=re.MULTILINE)


def render(records: list[dict], notebooks: list[str]) -> str:
    unknown = sorted({r.get("verdict") for r in records} - set(VERDICTS), key=str)
    if unknown:
        raise ValueError(f"claims records with unknown verdicts {unknown}: use {', '.join(VERDICTS)}")
    order = {nb: i for i, nb in enumerate(notebooks)}
    records = sorted(records, key=lambda r: (order.get(r.get("notebook"), len(order)),))
    papers = list(dict.fromkeys(r.get("paper", "?") for r in records))
    lines = [HEADER]
    if records:
        counts = Counter((r.get("paper", "?"), r["verdict"]) for r in records)
        lines += ["## Counts", "", "| paper | " + " | ".join(VERDICTS) + " | all |",
                  "|---|" + "---|" * (len(VERDICTS) + 1)]
        for paper in papers:
            row = [counts[paper, v] for v in VERDICTS]
            lines.append(f"| {_cell(paper)} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
        total = [sum(counts[p, v] for p in papers) for v in VERDICTS]
        lines += ["| all | " + " | ".join(map(str, total)) + f" | {sum(total)} |", ""]
        lines += ["## Every claim", "", "One section per notebook, with the setting its numbers were made in.", ""]
        for nb in dict.fromkeys(r.get("notebook", "") for r in records):
            rows = [r for r in records if r.get("notebook", "") == nb]
            title = f"{{doc}}`notebooks/{nb}`" if nb in order else _cell(nb)
            lines += [f"### {title}", "",
                      f"Paper: {_cell(rows[0].get('paper', ''))}. Ours: {_cell(rows[0].get('setting', ''))}.", "",
                      "| where | claim | verdict | effect [95% interval] |", "|---|---|---|---|"]
            for r in rows:
                lines.append(" | ".join(["", _cell(r.get("where", "")), _cell(r.get("claim", "")), f"**{r['verdict']}**",
                                         _cell(_effect(r)), ""]).strip())
            lines.append("")
    judged = {r.get("notebook") for r in records}
    missing = [nb for nb in notebooks if nb not in judged]
    if missing:
        lines += ["## Pages without recorded verdicts", "",
                  "These pages wrote no claims records: their claims have not yet been judged under the "
                  "statistics policy (or they make none), and their own pages say what they found.", ""]
        lines += [f"- {{doc}}`notebooks/{nb}`" for nb in missing] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=REPO / "book" / "notebooks" / "runs")
    parser.add_argument("--toc", type=Path, default=REPO / "book" / "_toc.yml")
    parser.add_argument("--out", type=Path, default=REPO / "book" / "claims.md")
    args = parser.parse_args(argv)
    if not args.toc.is_file():
        parser.error(f"--toc {args.toc} does not exist")
    files = sorted(args.runs.glob("*/claims.json")) if args.runs.is_dir() else []
    text = render(read_claims(files), book_notebooks(args.toc))
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(files)} claims files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
