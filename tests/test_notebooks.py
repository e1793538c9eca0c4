"""The notebooks, the profiles and the book agree with each other.

- profiles/*.yaml all have the same keys, and book/reproducing.md's profile table shows their values;
- every notebook in notebooks/ (the golden notebooks that nbval runs) has exactly one cell tagged
  `parameters`, declaring at least the smoke profile's keys with the smoke profile's values, and
  any papermill-injected cell in it carries smoke values too;
- every notebook in book/notebooks/ (what the book shows, never executed by the book build) has
  been executed, without errors, from a notebook of notebooks/, and its injected-parameters cell
  is hidden.

The notebook tests are parametrized over the files present; with none, only the profile tests run.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILES = {p.stem: p for p in sorted((REPO / "profiles").glob("*.yaml"))}
RUNTIME_KEYS = set(__import__("runpy").run_path(str(REPO / "tools" / "run_notebooks.py"))["RUNTIME_KEYS"])
GOLDEN = sorted(p for p in (REPO / "notebooks").glob("*.ipynb") if not p.name.startswith("."))
BOOK = sorted(p for p in (REPO / "book" / "notebooks").glob("*.ipynb") if not p.name.startswith("."))
HIDING_TAGS = {"hide-cell", "remove-cell", "hide-input", "remove-input"}


def load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def smoke() -> dict:
    return load_yaml(PROFILES["smoke"])


def plain(value):
    """Tuples as lists, recursively, so that `seeds = (0,)` and `seeds: [0]` compare equal."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def assignments(cell) -> dict:
    """NAME -> value of every `NAME = literal` (or `NAME: type = literal`) in a code cell."""
    values = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        try:
            values[name] = ast.literal_eval(value)
        except ValueError:
            raise AssertionError(f"parameter {name} is not a literal: {ast.unparse(value)}") from None
    return values


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --------------------------------------------------------------------------- profiles (always run)


def test_the_three_profiles_exist():
    assert {"smoke", "bench", "paper"} <= set(PROFILES), sorted(PROFILES)


def test_profiles_have_the_same_keys():
    keys = {name: set(load_yaml(path)) for name, path in PROFILES.items()}
    reference = keys["smoke"]
    for name, names in keys.items():
        assert names == reference, (
            f"profiles/{name}.yaml keys differ from smoke's: "
            f"missing {sorted(reference - names)}, extra {sorted(names - reference)}")


def test_each_profile_names_itself():
    for name, path in PROFILES.items():
        assert load_yaml(path).get("profile") == name, f"profiles/{name}.yaml: profile: should be {name}"


def test_reproducing_chapter_shows_the_profiles_values():
    """book/reproducing.md's table `| key | smoke | bench | paper |` matches profiles/*.yaml."""
    text = (REPO / "book" / "reproducing.md").read_text(encoding="utf-8")
    header = re.search(r"^\| key \|(.*)\|\s*$", text, flags=re.MULTILINE)
    assert header, "book/reproducing.md has no profile table (a row starting with '| key |')"
    columns = [c.strip() for c in header[1].split("|")]
    assert set(columns) == set(PROFILES), f"table columns {columns}, profiles {sorted(PROFILES)}"
    profiles = {name: load_yaml(PROFILES[name]) for name in columns}
    rows = {}
    for line in text[header.end():].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    expected_keys = set(profiles["smoke"]) - {"profile"}
    assert set(rows) == expected_keys, f"table rows {sorted(rows)}, profile keys {sorted(expected_keys)}"
    for key, cells in rows.items():
        for name, cell in zip(columns, cells):
            assert plain(yaml.safe_load(cell)) == plain(profiles[name][key]), (
                f"book/reproducing.md shows {key}={cell} for {name}; "
                f"profiles/{name}.yaml has {profiles[name][key]!r}")


# --------------------------------------------------------------------------- golden notebooks


@pytest.mark.parametrize("path", GOLDEN, ids=ids(GOLDEN))
def test_golden_notebook_has_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    cells = tagged(nb, "parameters")
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', expected exactly 1"
    assert cells[0].cell_type == "code"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec should be python3 (the .venv's ipykernel)")


@pytest.mark.parametrize("path", GOLDEN, ids=ids(GOLDEN))
def test_golden_notebook_defaults_are_the_smoke_profile(path):
    import papermill

    nb = nbformat.read(path, as_version=4)
    (cell,) = tagged(nb, "parameters")
    defaults = assignments(cell)
    profile = {k: v for k, v in smoke().items() if k not in RUNTIME_KEYS}  # the runs' environment, not parameters
    missing = sorted(set(profile) - set(defaults))
    assert not missing, f"{path.name}: the parameters cell does not declare {missing}"
    for key, value in profile.items():
        assert plain(defaults[key]) == plain(value), (
            f"{path.name}: default {key} = {defaults[key]!r}, the smoke profile has {value!r}")
    # what tools/run_notebooks.py will pass is what papermill sees declared
    assert set(defaults) <= set(papermill.inspect_notebook(str(path)))


@pytest.mark.parametrize("path", GOLDEN, ids=ids(GOLDEN))
def test_golden_notebook_checks_its_parameters_first(path):
    """The first code cell after the parameters (and papermill's injected cell) calls
    growth.notebook_parameters.check_parameters(globals()), directly or through growth.report.Page(globals(), ...):
    a bad -p stops there, naming itself."""
    nb = nbformat.read(path, as_version=4)
    index = nb.cells.index(tagged(nb, "parameters")[0])
    after = [c for c in nb.cells[index + 1:]
             if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    first = after[0].source if after else ""
    assert "check_parameters(globals())" in first or "Page(globals()," in first, (
        f"{path.name}: the first code cell after the parameters does not call check_parameters(globals()) "
        "or Page(globals(), ...)")


@pytest.mark.parametrize("path", GOLDEN, ids=ids(GOLDEN))
def test_golden_notebook_injected_values_are_smoke(path):
    """A golden notebook re-executed with `make golden` keeps smoke values in its injected cell."""
    nb = nbformat.read(path, as_version=4)
    profile = smoke()
    for cell in tagged(nb, "injected-parameters"):
        for key, value in assignments(cell).items():
            if key in profile:
                assert plain(value) == plain(profile[key]), (
                    f"{path.name}: injected {key} = {value!r}, not the smoke value {profile[key]!r}; "
                    f"re-run `make golden`")


# --------------------------------------------------------------------------- the book's notebooks


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_was_executed(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, f"{path.name}: no code cells"
    unexecuted = [i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were not executed (run `make book`)"
    assert any(c.get("outputs") for c in code), f"{path.name}: no code cell has an output"
    errors = [i for i, c in enumerate(nb.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells {errors} have error outputs"


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_hides_injected_parameters(path):
    nb = nbformat.read(path, as_version=4)
    for cell in tagged(nb, "injected-parameters"):
        tags = set(cell.metadata.get("tags", []))
        assert tags & HIDING_TAGS, f"{path.name}: the injected-parameters cell is not hidden (tags {sorted(tags)})"


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_folds_its_code(path):
    """A book page reads as results: every code cell's input is behind a toggle (tools/run_notebooks.py),
    unless the notebook shows its code on purpose (a guide: metadata growth.show_code)."""
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.get("growth", {}).get("show_code"):
        return
    shown = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()
             and not set(c.metadata.get("tags", [])) & (HIDING_TAGS | {"parameters"})]
    assert not shown, f"{path.name}: code cells {shown} are not folded (re-run `make book`)"


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_comes_from_a_golden_notebook(path):
    assert (REPO / "notebooks" / path.name).is_file(), (
        f"book/notebooks/{path.name} has no source notebooks/{path.name}")


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_runs_the_golden_notebooks_code(path):
    """The book's executed copy holds the same code as its golden notebook: no stale page after an edit
    (re-run `make book`). Only the injected parameters cell differs."""
    def code(p):
        nb = nbformat.read(p, as_version=4)
        return [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]

    assert code(path) == code(REPO / "notebooks" / path.name), (
        f"book/notebooks/{path.name} was executed from other code than notebooks/{path.name}: re-run `make book`")


@pytest.mark.parametrize("path", BOOK, ids=ids(BOOK))
def test_book_notebook_is_in_the_table_of_contents(path):
    toc = (REPO / "book" / "_toc.yml").read_text(encoding="utf-8")
    entry = f"book/notebooks/{path.stem}"
    assert re.search(rf"file:\s*{re.escape(entry)}\s*$", toc, flags=re.MULTILINE), (
        f"{entry} is not in book/_toc.yml: the book would not show it")


GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([^`:]+\.ipynb)::([^`:]+)(?::[^`]*)?`")


@pytest.mark.parametrize("page", sorted((REPO / "book").glob("*.md")), ids=lambda p: p.name)
def test_chapter_glue_references_exist_in_the_executed_notebooks(page):
    """A chapter pastes verdicts computed by its notebooks ({glue:text}`notebooks/x.ipynb::key:s`): every
    key must be glued by the executed book notebook, or the page would show nothing there."""
    for rel, key in GLUE_REF.findall(page.read_text(encoding="utf-8")):
        path = page.parent / rel
        assert path.is_file(), f"{page.name}: glue from {rel}, which does not exist"
        nb = nbformat.read(path, as_version=4)
        glued = {o.get("metadata", {}).get("scrapbook", {}).get("name")
                 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])}
        assert key in glued, f"{page.name}: {rel} glues no key {key!r} (re-run `make book`)"
