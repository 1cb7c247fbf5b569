"""Build the ``ForecourtLayer`` the way ``sam build`` does and check it fits Lambda's size limit.

Lambda refuses a function whose code plus layers exceed 250 MB unzipped (262,144,000 bytes; AWS's
"MB" is 2**20 bytes, and so is ours here). pyarrow alone is ~166 MB, so the layer is pruned, and
this module is where the pruning list lives: ``layers/forecourt/Makefile`` (target
``build-ForecourtLayer``) calls ``python -m forecourt.layer_size --prune DIR`` and then
``--compile DIR`` after its pip install.

The layer ships Python 3.12 bytecode. /opt is read-only on Lambda, so a layer without ``.pyc``
files has every module it imports (pydantic, Powertools, pyarrow's Python code, ours) compiled again
on every cold start, which doubled the handlers' import time. ``--compile`` runs ``compileall`` with
a Python 3.12 - bytecode is only valid for the interpreter version that wrote it - in
``unchecked-hash`` mode (see ``compile_bytecode``).

Usage::

    python -m forecourt.layer_size               # build into build/layer/python, print sizes
    python -m forecourt.layer_size --prune DIR   # only prune and strip DIR (the Makefile's first step)
    python -m forecourt.layer_size --compile DIR # then write DIR's bytecode with Python 3.12
    python -m forecourt.layer_size --measure-only

The Python 3.12 is found on PATH or in pyenv, or given with ``--python312``. Building needs it; with
it, the built layer and the functions' handlers are also imported, seeing only the layer and boto3
(which the Lambda runtime provides; installed into ``build/layer/runtime``, not counted), to prove
that the requirements are complete and that the pruning removed nothing a function loads, and each
handler's cold import is timed (the median of three fresh interpreters that write no bytecode).

Exit status: 0 within the limit, 1 over it, 2 when the build, the compilation or the import check
fails or no Python 3.12 is found to build with. Standard library only: the Makefile runs this module
before any dependency is installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * MIB
REPO_ROOT = Path(__file__).resolve().parents[3]
LAYER_DIR = REPO_ROOT / "layers" / "forecourt"
FUNCTION_DIRS = tuple(
    REPO_ROOT / "functions" / name for name in ("ingest", "commit", "webhook", "route_lead", "deliver")
)
"""The functions that run on the ForecourtLayer alone."""
JOBS_LAYER_DIR = REPO_ROOT / "layers" / "jobs"
JOB_FUNCTION_DIRS = tuple(
    REPO_ROOT / "functions" / name for name in ("resolve", "enrich", "audiences", "compact")
)
"""The scheduled jobs: ForecourtLayer + JobsLayer (DuckDB and sqlglot, for the SQL of queries/)."""
DEFAULT_OUT = REPO_ROOT / "build" / "layer"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
"""The versions the tests ran with: the layers are built with them too (the Makefiles pass the same)."""

# Wheels for the Lambda runtime (python3.12, x86_64, Amazon Linux 2023 = glibc 2.34), whatever the
# build host is. pip does not widen a `manylinux_2_X` tag to older glibc versions, so every tag the
# dependencies publish is named: pyarrow ships manylinux_2_28 wheels, most others manylinux2014.
# The Makefile passes the same arguments (a test keeps the two in step).
PIP_TARGET_ARGS: tuple[str, ...] = (
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_34_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--only-binary=:all:",
)

# Globs, relative to the layer's python/ directory, of what Lambda never needs.
PRUNE_PATTERNS: tuple[str, ...] = (
    # Provided by the Lambda runtime; a copy in the layer would shadow the runtime's.
    "boto3",
    "boto3-*.dist-info",
    "botocore",
    "botocore-*.dist-info",
    "s3transfer",
    "s3transfer-*.dist-info",
    # Console scripts pip writes next to the packages.
    "bin",
    # (Bytecode that Lambda's python3.12 cannot use goes too, but that is not a glob: see
    # `_is_foreign_bytecode`.)
    # pyarrow: tests, C++ headers and sources, Cython sources.
    "pyarrow/tests",
    "pyarrow/_pyarrow_cpp_tests*",
    "pyarrow/include",
    "pyarrow/includes",
    "pyarrow/src",
    "pyarrow/**/*.pyx",
    "pyarrow/**/*.pxd",
    "pyarrow/**/*.pxi",
    # pyarrow: Flight RPC and Gandiva are never used (Parquet, dataset and Acero are). Only the
    # Substrait *Python module* goes: since pyarrow 26 every extension module, pyarrow.lib included,
    # links libarrow_substrait.so, so removing that library breaks `import pyarrow`.
    "pyarrow/libarrow_flight*",
    "pyarrow/libarrow_python_flight*",
    "pyarrow/_flight*",
    "pyarrow/_substrait*",
    "pyarrow/libgandiva*",
    "pyarrow/gandiva*",
)

# The import check: the pruned layer plus what the Lambda runtime itself provides (boto3) - nothing
# else - must import every handler module, as Lambda would (layer first on sys.path).
# The modules a handler imports only for some inputs (the ADF and JSON-lines readers, phonenumbers)
# are imported here too, so that pruning cannot remove them unnoticed.
RUNTIME_PROVIDED = ("boto3",)
SMOKE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "layer-size",
    "POWERTOOLS_METRICS_NAMESPACE": "Forecourt",
    "FORECOURT_LAKE_BUCKET": "forecourt-lake",
    "FORECOURT_GLUE_DATABASE": "forecourt_dev",
    "FORECOURT_REGISTRY_TABLE": "forecourt-registry",
    "FORECOURT_COMMIT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/forecourt-commits.fifo",
}
SMOKE_SCRIPT = """
import importlib.util, io, sys, zoneinfo
import pyarrow, pyarrow.compute, pyarrow.csv, pyarrow.dataset, pyarrow.fs, pyarrow.parquet
import pyiceberg.catalog.glue, pyiceberg.io.pyarrow
import forecourt.bundled, forecourt.schemas
import forecourt.formats.adf, forecourt.formats.jsonl, phonenumbers
import forecourt.zip_codes
assert forecourt.zip_codes.location("60601"), "the zip dataset does not load from the layer"
zoneinfo.ZoneInfo("America/Chicago")
assert forecourt.schemas.schemas_dir().name == "schemas_data", forecourt.schemas.schemas_dir()
assert forecourt.schemas.load_all()
assert (forecourt.bundled.queries_dir() / "identity" / "scored_pairs.sql").is_file()
# the stripped native libraries still compute, write and read Parquet
rows = pyarrow.table({"n": [1, 2, None], "s": ["a", "b", "a"]})
buffer = io.BytesIO()
pyarrow.parquet.write_table(rows, buffer, compression="zstd")
assert pyarrow.parquet.read_table(io.BytesIO(buffer.getvalue())).equals(rows)
assert pyarrow.compute.sum(rows["n"]).as_py() == 3
{jobs}
for number, handler in enumerate(sys.argv[1:]):
    sys.path.insert(0, handler.rsplit("/", 1)[0])
    spec = importlib.util.spec_from_file_location(f"handler_{number}", handler)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), handler
    sys.path.pop(0)
"""

JOBS_SMOKE = """
import duckdb, sqlglot, pyarrow
import forecourt.identity.job, forecourt.enrich.job, forecourt.audiences.build, forecourt.audiences.segments
forecourt.audiences.segments.load()  # the segments JSON and queries are packaged, lineage runs
from forecourt.identity.features import features, normalize_people
from forecourt.identity.resolve import ResolveConfig, resolve
from forecourt.normalize import Locale
# the queries/identity SQL, translated by sqlglot, run by DuckDB on two records of one person
people = pyarrow.table({
    "record_id": ["1", "2"], "first_name": ["Katherine", "Kate"], "last_name": ["Vandermolen"] * 2,
    "email": ["kate.vandermolen@gmail.com"] * 2, "zip": ["60601"] * 2,
})
prepared = features(normalize_people(people, Locale(country="US")))
found = resolve(prepared, ResolveConfig(), {}, {}, "2026-11-03")
assert len(set(found.links["person_id"].to_pylist())) == 1, found.links.to_pylist()
"""

# Python 3.12's bytecode file tag (sys.implementation.cache_tag): the only .pyc files the layer keeps.
BYTECODE_TAG = "cpython-312"
IMPORT_TIME_RUNS = 3
IMPORT_TIME_SCRIPT = """
import importlib, sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
importlib.import_module("app")
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class SizeLine:
    """The unzipped size of one top-level entry of the deployed code."""

    name: str
    size_bytes: int


@dataclass(frozen=True)
class ImportTime:
    """Cold import times of one function's handler module, in seconds, one per fresh interpreter."""

    name: str
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def prune(site_dir: Path, patterns: Iterable[str] = PRUNE_PATTERNS) -> int:
    """Delete everything under ``site_dir`` that matches ``patterns``, and bytecode that Lambda's
    Python 3.12 cannot use (``_is_foreign_bytecode``); return the bytes freed.

    Raises ``FileNotFoundError`` when ``site_dir`` does not exist.
    """
    if not site_dir.is_dir():
        raise FileNotFoundError(f"nothing to prune: {site_dir} is not a directory")
    freed = 0
    for pattern in patterns:
        for path in sorted(site_dir.glob(pattern), reverse=True):
            if path.is_symlink() or path.is_file():
                freed += path.lstat().st_size
                path.unlink()
            elif path.is_dir():
                freed += tree_size(path)
                shutil.rmtree(path)
    for path in sorted(site_dir.rglob("*.pyc")):
        if _is_foreign_bytecode(path):
            freed += path.lstat().st_size
            path.unlink()
    for cache in sorted(site_dir.rglob("__pycache__"), reverse=True):
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
    return freed


def strip_native(site_dir: Path, strip: str | None = None) -> int:
    """Drop the symbol tables the dynamic linker does not need from every native library under
    ``site_dir`` (``strip --strip-unneeded``; the dynamic symbols stay, so loading is unchanged) and
    return the bytes freed: the wheels ship pyarrow's and zstandard's libraries unstripped, about 55 MB.

    ``strip`` defaults to ``find_strip()``. Without one nothing is stripped (0 is returned) and a
    warning says that the scheduled jobs will not fit. Raises ``subprocess.CalledProcessError`` when
    strip fails.
    """
    program = strip or find_strip()
    if program is None:
        print(
            "warning: no strip program for x86_64 Linux libraries on this host (GNU strip on x86_64 "
            "Linux, x86_64-linux-gnu-strip or llvm-strip): the layers are not stripped, and the "
            "scheduled jobs (ForecourtLayer + JobsLayer) will exceed Lambda's 250 MB",
            file=sys.stderr,
        )
        return 0
    libraries = sorted(
        p for p in site_dir.rglob("*.so*") if p.is_file() and not p.is_symlink() and _is_elf(p)
    )
    before = sum(p.stat().st_size for p in libraries)
    for start in range(0, len(libraries), 100):
        subprocess.run(
            [program, "--strip-unneeded", *map(str, libraries[start : start + 100])],
            check=True,
            capture_output=True,
        )
    return before - sum(p.stat().st_size for p in libraries)


def find_strip() -> str | None:
    """A strip program that can rewrite Lambda's x86_64 ELF libraries on this host: a cross
    binutils or LLVM one, else the host's GNU strip on x86_64 Linux (Apple's strip and an ARM host's
    GNU strip cannot)."""
    for name in ("x86_64-linux-gnu-strip", "llvm-strip"):
        if found := shutil.which(name):
            return found
    native = shutil.which("strip")
    if native is None or platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    version = subprocess.run([native, "--version"], capture_output=True, text=True, check=False)
    return native if "GNU" in version.stdout else None


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def slim(site_dir: Path) -> int:
    """``prune`` then ``strip_native``: everything the layer build removes; the bytes freed."""
    return prune(site_dir) + strip_native(site_dir)


def _is_foreign_bytecode(path: Path) -> bool:
    """True for a ``.pyc`` file Lambda's python3.12 never reads: another version's or implementation's
    (``x.cpython-311.pyc``), an optimized one (``x.cpython-312.opt-1.pyc``: Lambda runs without
    ``-O``) or a legacy one outside ``__pycache__``. ``__pycache__/x.cpython-312.pyc`` stays."""
    return path.parent.name != "__pycache__" or not path.name.endswith(f".{BYTECODE_TAG}.pyc")


def bytecode_files(site_dir: Path) -> list[Path]:
    """The Python 3.12 bytecode files under ``site_dir``."""
    return sorted(site_dir.rglob(f"__pycache__/*.{BYTECODE_TAG}.pyc"))


def compile_bytecode(site_dir: Path, python: str) -> None:
    """Write the bytecode of every module under ``site_dir`` with ``python`` (a CPython 3.12).

    Why ``--invalidation-mode unchecked-hash``: Python uses such a pyc without looking at its source.
    The default, a timestamp pyc, records its source's mtime and is ignored as soon as the source's
    mtime differs - and, /opt being read-only, the module is then compiled again on every cold
    start. Nothing keeps those mtimes between this build and Lambda: the deployment zip stores them
    to 2 s and without a time zone, and ``sam build``/``sam package`` and Lambda's extraction make no
    promise either. A ``checked-hash`` pyc would survive that but read and hash every source on every
    import. Unchecked is safe because the layer is rebuilt from scratch whenever a source changes
    (``build_layer``; the Makefile's ``rm -rf``): no source is edited after its bytecode is written.
    ``-f`` rewrites any pyc already there (a developer's timestamp pyc copied with our package, say)
    in that mode; ``-j 0`` uses every core.

    Raises ``ValueError`` when ``python`` is not CPython 3.12 and ``subprocess.CalledProcessError``
    when a module does not compile.
    """
    if not _is_python312(python):
        raise ValueError(f"{python} is not CPython 3.12: its bytecode would be useless on Lambda")
    command = [python, "-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*command, "-j", "0", str(site_dir)], check=True)


def tree_size(path: Path) -> int:
    """Apparent size in bytes of a file or of every file under a directory (symlinks not followed)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(child.lstat().st_size for child in path.rglob("*") if not child.is_dir())


def pip_install(requirements: Path, site_dir: Path) -> None:
    """Install ``requirements`` into ``site_dir`` as Lambda wheels (see ``PIP_TARGET_ARGS``).

    Raises ``subprocess.CalledProcessError`` when pip fails.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--no-warn-conflicts",
        "--target",
        str(site_dir),
    ]
    command += [*PIP_TARGET_ARGS, "--constraint", str(CONSTRAINTS), "--requirement", str(requirements)]
    subprocess.run(command, check=True)


def copy_package(
    layer_dir: Path, schemas_dir: Path, site_dir: Path, queries_dir: Path = REPO_ROOT / "queries"
) -> None:
    """Copy the ``forecourt`` package, the dataset schemas and the SQL of ``queries/`` into
    ``site_dir`` as ``forecourt/schemas_data`` and ``forecourt/queries_data`` (as the Makefile does;
    ``forecourt.bundled`` finds them there)."""
    package = site_dir / "forecourt"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(layer_dir / "forecourt", package, ignore=skip, dirs_exist_ok=True)
    schemas_data = package / "schemas_data"
    schemas_data.mkdir(parents=True, exist_ok=True)
    for schema in sorted(schemas_dir.glob("*.json")):
        shutil.copy2(schema, schemas_data / schema.name)
    shutil.copytree(queries_dir, package / "queries_data", ignore=skip, dirs_exist_ok=True)


def build_layer(
    out_dir: Path, python: str, layer_dir: Path = LAYER_DIR, schemas_dir: Path | None = None
) -> Path:
    """Build the layer into ``out_dir/python`` from scratch, its bytecode compiled with ``python``
    (a CPython 3.12), and return that directory."""
    site_dir = out_dir / "python"
    if site_dir.exists():
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    pip_install(layer_dir / "requirements.txt", site_dir)
    copy_package(layer_dir, schemas_dir or REPO_ROOT / "schemas", site_dir)
    slim(site_dir)
    compile_bytecode(site_dir, python)
    return site_dir


def build_jobs_layer(out_dir: Path, python: str, jobs_dir: Path = JOBS_LAYER_DIR) -> Path:
    """Build the JobsLayer into ``out_dir/jobs/python`` from scratch (its requirements only: the
    functions that use it also have the ForecourtLayer), pruned, stripped and compiled like the
    ForecourtLayer; return that directory."""
    site_dir = out_dir / "jobs" / "python"
    if site_dir.exists():
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    pip_install(jobs_dir / "requirements.txt", site_dir)
    slim(site_dir)
    compile_bytecode(site_dir, python)
    return site_dir


def find_python312() -> str | None:
    """A working Python 3.12 interpreter on this machine (the Lambda runtime's version), if there is one."""
    candidates = [
        shutil.which("python3.12"),
        *map(str, Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")),
    ]
    return next((c for c in candidates if c and _is_python312(c)), None)


def _is_python312(python: str) -> bool:
    """True when ``python`` runs and is CPython 3.12 (a pyenv shim may exist without working)."""
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        result = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.split() == ["cpython", "3", "12"]


def install_runtime_stand_in(runtime_dir: Path) -> None:
    """Install what the Lambda runtime provides (``RUNTIME_PROVIDED``) into ``runtime_dir``, once."""
    if runtime_dir.is_dir():
        return
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-warn-conflicts"]
    command += ["--target", str(runtime_dir), *PIP_TARGET_ARGS, *RUNTIME_PROVIDED]
    subprocess.run(command, check=True)


def _layer_env(site_dirs: Path | Sequence[Path], runtime_dir: Path) -> dict[str, str]:
    """A Lambda-like environment: only the layers (in order) and the runtime's boto3 on the path, no
    bytecode written anywhere (so every interpreter starts as cold as the first)."""
    layers = [site_dirs] if isinstance(site_dirs, Path) else list(site_dirs)
    return {
        **SMOKE_ENV,
        "PYTHONPATH": os.pathsep.join([*map(str, layers), str(runtime_dir)]),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": os.environ.get("PATH", ""),
    }


def smoke_test(
    site_dirs: Path | Sequence[Path],
    runtime_dir: Path,
    python: str,
    function_dirs: Sequence[Path] = FUNCTION_DIRS,
    *,
    jobs: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Import the layers and every ``app.py`` handler with ``python``, seeing only the layers and the
    runtime; with ``jobs``, also run a DuckDB query over Arrow (the JobsLayer's part)."""
    handlers = [str(d / "app.py") for d in function_dirs if (d / "app.py").is_file()]
    script = SMOKE_SCRIPT.replace("{jobs}", JOBS_SMOKE if jobs else "")
    return subprocess.run(
        [python, "-S", "-c", script, *handlers],
        env=_layer_env(site_dirs, runtime_dir),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def time_imports(
    site_dirs: Path | Sequence[Path],
    runtime_dir: Path,
    python: str,
    function_dirs: Sequence[Path] = FUNCTION_DIRS,
    runs: int = IMPORT_TIME_RUNS,
) -> list[ImportTime]:
    """Time the cold import of each function's ``app`` module with ``python``, ``runs`` times each in
    a fresh interpreter that sees only the layer and the runtime and writes no bytecode.

    Each function directory is imported from a copy without its ``__pycache__``, as ``sam build``
    deploys it, so the only bytecode read is the layer's. The interpreter's start-up is not counted.
    Raises ``subprocess.CalledProcessError`` when a handler does not import.
    """
    times = []
    with tempfile.TemporaryDirectory(prefix="forecourt-import-time-") as scratch:
        for function_dir in function_dirs:
            if not (function_dir / "app.py").is_file():
                continue
            task_dir = Path(scratch) / function_dir.name
            shutil.copytree(function_dir, task_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            seconds = [
                float(
                    subprocess.run(
                        [python, "-S", "-c", IMPORT_TIME_SCRIPT, str(task_dir)],
                        env=_layer_env(site_dirs, runtime_dir),
                        capture_output=True,
                        text=True,
                        check=True,
                        timeout=300,
                    ).stdout
                )
                for _ in range(runs)
            ]
            times.append(ImportTime(f"functions/{function_dir.name}", tuple(seconds)))
    return times


def measure(site_dir: Path, function_dirs: Sequence[Path] = FUNCTION_DIRS) -> list[SizeLine]:
    """Sizes per top-level package of the layer, all ``*.dist-info`` in one line, plus each function."""
    totals: dict[str, int] = {}
    for entry in site_dir.iterdir():
        name = "*.dist-info" if entry.name.endswith(".dist-info") else entry.name
        totals[name] = totals.get(name, 0) + tree_size(entry)
    for function_dir in function_dirs:
        if function_dir.is_dir():
            code = [p for p in function_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
            totals[f"functions/{function_dir.name}"] = sum(p.lstat().st_size for p in code)
    lines = [SizeLine(name, size) for name, size in totals.items()]
    return sorted(lines, key=lambda line: (-line.size_bytes, line.name))


def report(lines: Sequence[SizeLine], limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES) -> str:
    """A table of sizes, largest first, with the total against ``limit_bytes``."""
    total = sum(line.size_bytes for line in lines)
    width = max([len(line.name) for line in lines] + [5])
    rows = [f"{line.name:<{width}}  {line.size_bytes / MIB:8.1f} MB" for line in lines]
    verdict = "within" if total <= limit_bytes else "OVER"
    rows.append("-" * (width + 13))
    rows.append(
        f"{'total':<{width}}  {total / MIB:8.1f} MB  ({verdict} the {limit_bytes / MIB:.0f} MB limit)"
    )
    return "\n".join(rows)


def report_bytecode(site_dir: Path) -> str:
    """One line: how many Python 3.12 bytecode files the layer holds, and their size."""
    files = bytecode_files(site_dir)
    size = sum(path.lstat().st_size for path in files)
    return f"bytecode: {len(files)} {BYTECODE_TAG} .pyc files, {size / MIB:.1f} MB of the total"


def report_import_times(times: Sequence[ImportTime], python: str) -> str:
    """A table of each handler's median cold import time, with the fastest and slowest run."""
    runs = max((len(entry.runs) for entry in times), default=0)
    rows = [f"cold import with {python} (median of {runs} fresh interpreters, no bytecode written):"]
    width = max([len(entry.name) for entry in times] + [5])
    for entry in times:
        rows.append(
            f"  {entry.name:<{width}}  {entry.median:6.2f} s  ({min(entry.runs):.2f}-{max(entry.runs):.2f})"
        )
    return "\n".join(rows)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m forecourt.layer_size", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--prune",
        type=Path,
        metavar="DIR",
        help="only prune DIR (a layer's python/ dir), strip its libraries",
    )
    parser.add_argument(
        "--compile", type=Path, metavar="DIR", help="only write DIR's bytecode with Python 3.12"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build directory (default build/layer)")
    parser.add_argument("--measure-only", action="store_true", help="measure an existing build")
    parser.add_argument("--limit-mb", type=float, default=LAMBDA_UNZIPPED_LIMIT_BYTES / MIB)
    parser.add_argument(
        "--python312",
        "--smoke-python",
        dest="python312",
        metavar="PYTHON",
        help="Python 3.12 to compile the bytecode, import and time the handlers with "
        "(default: found on PATH/pyenv)",
    )
    return parser.parse_args(argv)


def _import_check(out_dir: Path, python: str | None) -> bool:
    """Run the import check and time the handlers' imports when a Python 3.12 is available; print the
    outcome; False when it failed."""
    if python is None:
        print("import check skipped: no python3.12 found (pass --python312)")
        return True
    runtime_dir = out_dir / "runtime"
    install_runtime_stand_in(runtime_dir)
    layers = [out_dir / "python"]
    jobs_layers = [out_dir / "python", out_dir / "jobs" / "python"]
    for sites, functions, jobs in ((layers, FUNCTION_DIRS, False), (jobs_layers, JOB_FUNCTION_DIRS, True)):
        result = smoke_test(sites, runtime_dir, python, functions, jobs=jobs)
        if result.returncode != 0:
            print(f"import check FAILED with {python}:\n{result.stderr}", file=sys.stderr)
            return False
    print(
        f"import check passed with {python}: the ForecourtLayer and {len(FUNCTION_DIRS)} handlers import, "
        f"and with the JobsLayer, DuckDB runs and {len(JOB_FUNCTION_DIRS)} job handlers import"
    )
    times = time_imports(layers, runtime_dir, python) + time_imports(
        jobs_layers, runtime_dir, python, JOB_FUNCTION_DIRS
    )
    print(report_import_times(times, python))
    return True


def _compile_only(site_dir: Path, python: str | None) -> int:
    """``--compile DIR``: write the bytecode, or explain why not; the exit status."""
    if python is None:
        print("no python3.12 found to compile the layer's bytecode with (pass --python312)", file=sys.stderr)
        return 2
    try:
        compile_bytecode(site_dir, python)
    except (ValueError, subprocess.CalledProcessError) as error:
        print(f"compiling the layer's bytecode failed: {error}", file=sys.stderr)
        return 2
    print(f"compiled {site_dir} with {python}")
    print(report_bytecode(site_dir))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (see the module docstring)."""
    args = _parse_args(argv)
    if args.prune is not None:
        freed = slim(args.prune)
        print(f"pruned and stripped {freed / MIB:.1f} MB from {args.prune}")
        return 0
    python = args.python312 or find_python312()
    if args.compile is not None:
        return _compile_only(args.compile, python)
    site_dir = args.out / "python"
    if not args.measure_only:
        if python is None:
            print(
                "no python3.12 found to compile the layer's bytecode with (pass --python312)", file=sys.stderr
            )
            return 2
        try:
            build_layer(args.out, python)
            build_jobs_layer(args.out, python)
        except (ValueError, subprocess.CalledProcessError) as error:
            print(f"layer build failed: {error}", file=sys.stderr)
            return 2
    lines = measure(site_dir)
    limit_bytes = int(args.limit_mb * MIB)
    print(report(lines, limit_bytes))
    print(report_bytecode(site_dir))
    layer_bytes = sum(line.size_bytes for line in lines if not line.name.startswith("functions/"))
    jobs_site = args.out / "jobs" / "python"
    if not jobs_site.is_dir():
        print(f"no JobsLayer build in {jobs_site}: build both layers first (without --measure-only)")
        return 2
    jobs_lines = [SizeLine("ForecourtLayer", layer_bytes), *measure(jobs_site, JOB_FUNCTION_DIRS)]
    print("\nthe scheduled jobs (resolve, enrich, audiences): ForecourtLayer + JobsLayer + their code")
    print(report(jobs_lines, limit_bytes))
    try:
        imported = _import_check(args.out, python)
    except subprocess.CalledProcessError as error:
        print(f"the import check could not run: {error}", file=sys.stderr)
        return 2
    if not imported:
        return 2
    within = all(sum(line.size_bytes for line in part) <= limit_bytes for part in (lines, jobs_lines))
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
