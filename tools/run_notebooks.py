#!/usr/bin/env python
"""Execute notebooks with papermill at one of the profiles in profiles/.

    python tools/run_notebooks.py --profile bench --out book/notebooks notebooks
    python tools/run_notebooks.py --profile smoke --in-place notebooks
    python tools/run_notebooks.py --profile paper -p epochs 180 --out runs notebooks/quickstart.ipynb

Each notebook gets the profile's values for the parameters its `parameters` cell declares;
`-p KEY VALUE` overrides a value (VALUE is read as YAML: `180` is an int, `[0, 1]` a list, `null`
None). Keys a notebook does not declare are not passed to it; a `-p` key that no notebook declares,
or a value of another kind than the parameter's default (`-p epochs abc`), is refused before any
notebook runs (exit status 2), as `growth.notebook_parameters` refuses it inside a notebook run by
papermill directly. Notebooks run with CI=true (progress bars off), in the folder their output goes
to, on the kernel named by their kernelspec, which must be this interpreter.

Kernels run with the portable CPU kernels (`growth.machine.PORTABLE_CPU_ENV`: ATen AVX2, oneDNN
capped at AVX2, MKL COMPATIBLE, one thread), so that a CPU run gives the same numbers on any x86-64
CPU with AVX2; this is how the golden notebooks' outputs were made. `--kernels native` lets PyTorch
choose by the machine instead (faster on some CPUs; the numbers then hold on this machine only).

A profile's `channels_last` and `threads` (`-p KEY VALUE` overrides them) are not notebook parameters but
settings of every run the notebooks start (`growth.layout`, read by `TrainConfig`): the memory layout,
`auto` (the bench profile: the faster layout per architecture, measured once per machine), `true` or
`false`; the CPU threads of a run, `auto` (the bench profile: the fewest that train the architecture
fastest, up to the run's share of the cores) or a number. A profile without them (smoke: the goldens)
leaves the loop's defaults: channels_last on GPUs only, and the process's threads (one, with the portable
kernels).

A notebook's runs are content-addressed (growth.runs): finished ones found under the output folder
are reused and interrupted ones resumed, so an interrupted `make book` started again picks up where
it stopped; `--fresh` (GROWTH_FRESH=1) computes every run anew, as `make golden` does.
`--executor SPEC` (GROWTH_EXECUTOR; growth.executors: `local:4`, `gpus`, `slurm:FOLDER,key=value...`)
chooses where every notebook's runs execute, overriding the notebooks' own `workers`; without one, a
machine with several GPUs runs one run per GPU (`gpus`). While a notebook
runs, a line per finished run (runs done / total, outcome, estimated time left) is printed here; the
notebook's own output stays as it was.

After a successful run the cell papermill injected (tag `injected-parameters`) is also tagged
`hide-cell`: Jupyter Book folds it behind a toggle, so the values a page was made with stay one
click away. Written to another folder (the book), every other code cell is tagged `hide-input`: the
page shows the outputs, its code one click away. The executed notebook is written to a temporary file beside its destination and moved
into place with os.replace, so an interrupted run never leaves a half-written notebook. A failed
notebook's partial output is kept in a temporary folder, whose path is printed.

Exit status: 0 if every notebook ran, 1 if any failed (each failure is named), 2 on bad usage.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from growth.executors import executor_from_spec, visible_gpus  # noqa: E402
from growth.layout import LAYOUT_ENV, THREADS_ENV  # noqa: E402
from growth.runs import EXECUTOR_ENV, PROGRESS_ENV  # noqa: E402
PROFILES = REPO / "profiles"
INJECTED_TAG = "injected-parameters"
HIDE_TAG = "hide-cell"
FOLD_TAG = "hide-input"


#: profile keys that set the runs' machine use (an environment variable each), not notebook parameters
RUNTIME_KEYS = {"channels_last": LAYOUT_ENV, "threads": THREADS_ENV}


class UsageError(Exception):
    """A problem with the command line, the profile or the kernel: nothing was executed."""


def load_profile(name: str) -> dict:
    """The parameters of profiles/NAME.yaml (or of a YAML file given by path)."""
    import yaml

    path = Path(name)
    if path.suffix not in {".yaml", ".yml"}:
        path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise UsageError(f"profile {name!r}: no file {path}; known profiles: {', '.join(known)}")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise UsageError(f"profile {path}: expected a mapping of parameter names to values")
    return data


def parse_overrides(pairs: list[list[str]]) -> dict:
    import yaml

    overrides = {}
    for key, raw in pairs:
        try:
            overrides[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise UsageError(f"-p {key} {raw!r}: not a YAML value ({exc})") from None
    return overrides


def find_notebooks(paths: list[str]) -> list[Path]:
    """Notebook files named on the command line, and the *.ipynb directly inside named folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.ipynb") if not p.name.startswith(".")))
        elif path.is_file() and path.suffix == ".ipynb":
            found.append(path)
        elif path.exists():
            raise UsageError(f"{raw}: not a notebook (.ipynb) or a folder")
        else:
            raise UsageError(f"{raw}: no such file or folder")
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def check_kernel(name: str) -> None:
    """Refuse a kernel that would run another interpreter than this one.

    jupyter_client replaces a kernelspec's leading `python`, `python3` or `python3.X` with
    sys.executable (ipykernel's own spec, installed into .venv/share/jupyter/kernels/python3, is
    of that kind), so such a spec runs the notebook in this virtualenv. A spec that names another
    executable (a stray user-level kernel.json, say) would not.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise UsageError(f"kernel {name!r} not found; install ipykernel in this environment") from None
    exe = spec.argv[0] if spec.argv else ""
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return
    resolved = shutil.which(exe) or exe
    if os.path.abspath(resolved) == os.path.abspath(sys.executable):
        return
    raise UsageError(
        f"kernel {name!r} ({spec.resource_dir}) runs {exe!r}, not this interpreter "
        f"({sys.executable}); remove that kernelspec or pass --kernel with one that runs "
        f"`python -m ipykernel_launcher`"
    )


def declared_parameters(path: Path) -> dict:
    """``{name: default}`` of the notebook's cell tagged ``parameters`` (empty if it has none)."""
    import nbformat

    from growth.notebook_parameters import declared_parameters as parse

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return parse(cell.source)
    return {}


def check_parameters(notebooks: list[Path], profile_name: str, profile: dict, overrides: dict) -> None:
    """Before any kernel starts: every -p key is declared by some notebook, and every value a notebook
    will get is of its default's kind (growth.notebook_parameters.check_value). UsageError otherwise."""
    from growth.notebook_parameters import check_value

    declared = {nb: declared_parameters(nb) for nb in notebooks}
    for key, value in overrides.items():
        if not any(key in d for d in declared.values()):
            names = sorted({k for d in declared.values() for k in d})
            raise UsageError(f"-p {key} {value!r}: no notebook here declares parameter {key!r}; "
                             f"they declare {', '.join(names)}")
    for nb, params in declared.items():
        for source, values in ((f"profile {profile_name}", profile), ("-p", overrides)):
            for key, value in values.items():
                if key in params:
                    try:
                        check_value(key, value, params[key])
                    except ValueError as err:
                        raise UsageError(f"{source}: {err} in {nb.name}") from None


def apply_runtime(profile: dict, overrides: dict) -> dict:
    """Take the runtime keys (:data:`RUNTIME_KEYS`) out of ``profile`` and ``overrides`` (an override wins) and
    set their environment variables, which every kernel and its runs inherit; a key given by neither is
    removed from the environment.  Returns ``{key: value}``; UsageError on a value not allowed."""
    chosen = {}
    for key, variable in RUNTIME_KEYS.items():
        value = overrides.pop(key, profile.pop(key, None))
        if value is None:
            os.environ.pop(variable, None)
            continue
        if key == "channels_last" and not (value == "auto" or isinstance(value, bool)):
            raise UsageError(f"{key}={value!r} is not allowed: use auto, true or false (or leave it out: "
                             "channels_last on GPUs only)")
        if key == "threads" and not (value == "auto" or isinstance(value, int) and not isinstance(value, bool)
                                     and value >= 1):
            raise UsageError(f"{key}={value!r} is not allowed: use auto or a positive number of threads (or leave "
                             "it out: the process's own, one thread with the portable kernels)")
        os.environ[variable] = str(value).lower()
        chosen[key] = value
    return chosen


def hide_injected_cell(nb) -> bool:
    """Tag papermill's injected-parameters cell hide-cell; True if there was one.

    The toggle gets its own label (myst-nb's cell-level `code_prompt_show`), so that a reader who
    sees the smoke defaults in the `parameters` cell above knows where the values used are.
    """
    found = False
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED_TAG in tags:
            found = True
            if HIDE_TAG not in tags:
                cell.metadata["tags"] = [*tags, HIDE_TAG]
            cell.metadata["mystnb"] = {
                **cell.metadata.get("mystnb", {}),
                "code_prompt_show": "Show the parameter values this page was run with",
                "code_prompt_hide": "Hide the parameter values this page was run with",
            }
    return found


def fold_code(nb) -> int:
    """Tag every code cell but the parameter cells hide-input (the book shows a cell's output with its
    code behind a toggle, so a page reads as results); returns how many cells were tagged. A notebook
    whose code is the point (a guide) opts out with the metadata ``"growth": {"show_code": true}``."""
    if nb.metadata.get("growth", {}).get("show_code"):
        return 0
    folded = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or {INJECTED_TAG, "parameters", FOLD_TAG} & set(tags):
            continue
        cell.metadata["tags"] = [*tags, FOLD_TAG]
        folded += 1
    return folded


def write_atomically(nb, dest: Path) -> None:
    """Write the notebook to a temporary file beside dest, then move it into place."""
    import nbformat

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_one(src: Path, dest: Path, profile: dict, overrides: dict, kernel: str | None,
            timeout: float | None) -> None:
    """Execute src into dest (with its code cells folded when dest is another file: a book page).
    Raises RuntimeError with a one-line reason on failure."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    declared = declared_parameters(src)
    if not declared:
        raise RuntimeError("no cell tagged 'parameters'")
    params = {k: v for k, v in profile.items() if k in declared}
    params.update({k: v for k, v in overrides.items() if k in declared})
    undeclared = sorted(set(profile) - set(declared))
    if undeclared:
        print(f"  note: {src.name} does not declare profile keys {undeclared}; not passed",
              file=sys.stderr)

    nb_kernel = kernel or nbformat.read(src, as_version=4).metadata.get(
        "kernelspec", {}).get("name", "python3")
    check_kernel(nb_kernel)

    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch_dir = Path(tempfile.mkdtemp(prefix=f"run_notebooks-{src.stem}-"))
    scratch = scratch_dir / src.name
    progress = scratch_dir / "progress.log"  # growth.runs appends a line per finished run (the kernel inherits it)
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = str(progress)
    stop = threading.Event()
    tail = threading.Thread(target=print_progress, args=(progress, src.stem, stop), daemon=True)
    tail.start()
    # ipykernel warns on its stderr (the terminal, not the notebook) that it talks to us over
    # local TCP; keep the run quiet and let only its errors through.
    engine_kwargs: dict = {"extra_arguments": ["--log-level=ERROR"]}
    if timeout is not None:
        engine_kwargs["execution_timeout"] = timeout
    try:
        papermill.execute_notebook(
            str(src),
            str(scratch),
            parameters=params,
            kernel_name=nb_kernel,
            progress_bar=False,
            log_output=False,
            cwd=str(dest.parent),
            **engine_kwargs,
        )
    except PapermillExecutionError as exc:
        raise RuntimeError(
            f"cell {exc.cell_index} raised {exc.ename}: {exc.evalue} "
            f"(partial output kept in {scratch})"
        ) from None
    except Exception as exc:  # kernel died, timeout, unreadable notebook, ...
        kept = f" (partial output kept in {scratch})" if scratch.exists() else ""
        raise RuntimeError(f"{type(exc).__name__}: {exc}{kept}") from None
    finally:
        stop.set()
        tail.join()
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous

    nb = nbformat.read(scratch, as_version=4)
    hide_injected_cell(nb)
    if dest.resolve() != src.resolve():
        fold_code(nb)
    write_atomically(nb, dest)
    shutil.rmtree(scratch_dir, ignore_errors=True)


def print_progress(path: Path, name: str, stop: threading.Event, every: float = 2.0) -> None:
    """Print the lines appended to ``path`` (growth.runs' progress), prefixed by the notebook's name, until
    ``stop`` is set (then the last ones)."""
    printed = 0
    while True:
        stopping = stop.wait(every)
        if path.exists():
            lines = path.read_text().splitlines()
            for line in lines[printed:]:
                print(f"  {name}: {line}", flush=True)
            printed = len(lines)
        if stopping:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Execute notebooks with papermill at a profile from profiles/.")
    parser.add_argument("paths", nargs="+", help="notebook files, or folders of notebooks")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="write executed copies into DIR (same names)")
    where.add_argument("--in-place", action="store_true", help="overwrite each notebook")
    parser.add_argument("--profile", default="smoke",
                        help="profiles/NAME.yaml (or a path to a YAML file); default: smoke")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("KEY", "VALUE"), help="override one parameter (VALUE is YAML)")
    parser.add_argument("--kernel", default=None,
                        help="kernel name (default: each notebook's kernelspec, python3)")
    parser.add_argument("--kernels", choices=("portable", "native"), default="portable",
                        help="CPU kernels of the notebooks' kernels (default portable: the same numbers on "
                             "any x86-64 AVX2 CPU; native: the machine's own choice)")
    parser.add_argument("--fresh", action="store_true",
                        help="compute every run anew (GROWTH_FRESH=1); by default a notebook reuses the finished runs "
                             "and resumes the interrupted ones it finds under its output folder (growth.runs)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a single cell may run (default: no limit)")
    parser.add_argument("--executor", default=None,
                        help="where the runs execute (GROWTH_EXECUTOR): local[:N], gpus[:0,1,...], "
                             "slurm:FOLDER[,key=value...]; default: each notebook's own workers on this CPU")
    args = parser.parse_args(argv)

    os.environ["CI"] = "true"  # the notebooks' progress bars stay quiet
    if args.fresh:
        os.environ["GROWTH_FRESH"] = "1"
    if args.kernels == "portable":  # read by PyTorch when a kernel starts
        from growth.machine import PORTABLE_CPU_ENV

        os.environ.update(PORTABLE_CPU_ENV)
    gpus = visible_gpus() if args.executor is None and not os.environ.get(EXECUTOR_ENV) else []
    if len(gpus) > 1:
        args.executor = "gpus"  # every GPU found, one run on each at a time
        print(f"run_notebooks: {len(gpus)} GPUs found: the runs go one per GPU (--executor gpus)")
    try:
        if args.executor is not None:
            try:
                executor_from_spec(args.executor)  # refused here, before any notebook runs
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            os.environ[EXECUTOR_ENV] = args.executor
        profile = load_profile(args.profile)
        overrides = parse_overrides(args.parameter)
        runtime = apply_runtime(profile, overrides)
        notebooks = find_notebooks(args.paths)
        check_parameters(notebooks, args.profile, profile, overrides)
    except UsageError as exc:
        print(f"run_notebooks: {exc}", file=sys.stderr)
        return 2
    if not notebooks:
        print(f"run_notebooks: no notebooks in {' '.join(args.paths)}; nothing to do")
        return 0

    failed: list[tuple[Path, str]] = []
    for number, src in enumerate(notebooks, 1):
        dest = src if args.in_place else Path(args.out) / src.name
        if len(notebooks) > 1:
            print(f"[{number}/{len(notebooks)}] {src}", flush=True)
        start = time.perf_counter()
        try:
            run_one(src, dest, profile, overrides, args.kernel, args.timeout)
        except UsageError as exc:
            print(f"run_notebooks: {exc}", file=sys.stderr)
            return 2
        except RuntimeError as exc:
            failed.append((src, str(exc)))
            print(f"FAILED {src}: {exc}", file=sys.stderr)
            continue
        settings = "".join(f", {key} {str(value).lower()}" for key, value in runtime.items())
        print(f"ok     {src} -> {dest}  [{args.profile}, {args.kernels} kernels{settings}, "
              f"{time.perf_counter() - start:.1f} s]")

    if failed:
        print(f"run_notebooks: {len(failed)} of {len(notebooks)} notebooks failed:", file=sys.stderr)
        for src, reason in failed:
            print(f"  {src}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
