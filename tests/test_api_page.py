"""The API reference (book/api.md) covers the package: every module, every exported name."""
import inspect
import re
from pathlib import Path

import growth

REPO = Path(__file__).resolve().parent.parent
PAGE = (REPO / "book" / "api.md").read_text(encoding="utf-8")


def test_every_module_of_the_package_has_its_section():
    modules = set()
    for path in (REPO / "growth").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    documented = set(re.findall(r"^\.\. automodule:: (\S+)", PAGE, flags=re.MULTILINE))
    assert not modules - documented, f"book/api.md has no automodule for {sorted(modules - documented)}"


def _resolve(dotted):
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_exported_name_is_listed():
    listed = [_resolve(entry) for entry in re.findall(r"^   (growth\.\S+)$", PAGE, flags=re.MULTILINE)]
    missing = [name for name in growth.__all__
               if not inspect.ismodule(getattr(growth, name)) and not any(getattr(growth, name) is o for o in listed)]
    assert not missing, f"growth.__all__ names missing from book/api.md's list: {missing}"
