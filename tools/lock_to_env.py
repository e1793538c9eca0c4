#!/usr/bin/env python3
"""Write environment.yml (for conda users) from requirements.lock.

    python3 tools/lock_to_env.py [requirements.lock [environment.yml]]

Python comes from conda (python=3.11, with conda's pip); every package of the lock is installed by
pip from PyPI at the lock's exact version. The lock's hashes and pip options (such as
--find-links) are not carried over: conda's pip section takes plain requirements. `make lock` runs
this after pip-compile, so the two files always name the same packages and versions
(tests/test_environment.py checks that they do). Standard library only.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = "3.11"

# A requirement line of a pip-compile lock: "name==version", optionally "; marker", then " \".
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?\s*$"
)


def read_lock(path: Path) -> list[tuple[str, str, str | None]]:
    """(name, version, marker or None) for every pinned package, in the lock's order."""
    pins = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line[0] in " \t#-":  # hashes, comments, "# via", pip options
            continue
        match = PIN.match(line)
        if not match:
            raise SystemExit(f"{path}:{number}: not a pinned requirement: {line!r}")
        pins.append((match["name"], match["version"], match["marker"]))
    if not pins:
        raise SystemExit(f"{path}: no pinned requirements found")
    return pins


def render(pins: list[tuple[str, str, str | None]], lock_name: str) -> str:
    lines = [
        f"# Generated from {lock_name} by tools/lock_to_env.py (run by `make lock`): do not edit.",
        "# The same packages and versions as the lock, for conda users on GPU machines:",
        "#   conda env create -f environment.yml && conda activate growth",
        "#   pip install --no-deps --no-build-isolation -e .",
        "# PyPI's torch wheels for Linux are CUDA-enabled; pip here does not check the lock's hashes.",
        "name: growth",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    for name, version, marker in pins:
        requirement = f"{name}=={version}" + (f"; {marker}" if marker else "")
        # Quoted: a marker holds characters (`;`, `"`, `'`) that YAML would otherwise misread.
        escaped = requirement.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'    - "{escaped}"')
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    lock = Path(argv[1]) if len(argv) > 1 else REPO / "requirements.lock"
    out = Path(argv[2]) if len(argv) > 2 else REPO / "environment.yml"
    text = render(read_lock(lock), lock.name)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({text.count(chr(10) + '    - ')} pinned packages from {lock})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
