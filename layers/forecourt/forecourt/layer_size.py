"""Build the ``ForecourtLayer`` the way ``sam build`` does and check it fits Lambda's size limit.

Lambda refuses a function whose code plus layers exceed 250 MB unzipped (262,144,000 bytes; AWS's
"MB" is 2**20 bytes, and so is ours here). pyarrow alone is ~166 MB, so the layer is pruned, and
this module is where the pruning list lives: ``layers/forecourt/Makefile`` (target
``build-ForecourtLayer``) calls ``python -m forecourt.layer_size --prune DIR`` after its pip install.

Usage::

    python -m forecourt.layer_size               # build into build/layer/python, print sizes
    python -m forecourt.layer_size --prune DIR   # only prune DIR (what the Makefile does)
    python -m forecourt.layer_size --measure-only

When a Python 3.12 interpreter is found (or given with ``--smoke-python``), the pruned layer and the
functions' handlers are imported with it, seeing only the layer and boto3 (which the Lambda runtime
provides; installed into ``build/layer/runtime``, not counted), to prove that the requirements are
complete and that the pruning removed nothing a function loads.

Exit status: 0 within the limit, 1 over it, 2 when the build or the import check fails. Standard
library only: the Makefile runs this module before any dependency is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * MIB
REPO_ROOT = Path(__file__).resolve().parents[3]
LAYER_DIR = REPO_ROOT / "layers" / "forecourt"
FUNCTION_DIRS = (REPO_ROOT / "functions" / "ingest", REPO_ROOT / "functions" / "commit")
DEFAULT_OUT = REPO_ROOT / "build" / "layer"

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
    # Bytecode is rebuilt on the function's first import anyway.
    "**/__pycache__",
    "**/*.pyc",
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
import importlib.util, sys, zoneinfo
import pyarrow, pyarrow.compute, pyarrow.csv, pyarrow.dataset, pyarrow.fs, pyarrow.parquet
import pyiceberg.catalog.glue, pyiceberg.io.pyarrow
import forecourt.schemas
import forecourt.formats.adf, forecourt.formats.jsonl, phonenumbers
zoneinfo.ZoneInfo("America/Chicago")
assert forecourt.schemas.schemas_dir().name == "schemas_data", forecourt.schemas.schemas_dir()
assert forecourt.schemas.load_all()
for number, handler in enumerate(sys.argv[1:]):
    sys.path.insert(0, handler.rsplit("/", 1)[0])
    spec = importlib.util.spec_from_file_location(f"handler_{number}", handler)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), handler
    sys.path.pop(0)
"""


@dataclass(frozen=True)
class SizeLine:
    """The unzipped size of one top-level entry of the deployed code."""

    name: str
    size_bytes: int


def prune(site_dir: Path, patterns: Iterable[str] = PRUNE_PATTERNS) -> int:
    """Delete everything under ``site_dir`` that matches ``patterns``; return the bytes freed.

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
    return freed


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
    command += [*PIP_TARGET_ARGS, "--requirement", str(requirements)]
    subprocess.run(command, check=True)


def copy_package(layer_dir: Path, schemas_dir: Path, site_dir: Path) -> None:
    """Copy the ``forecourt`` package and the dataset schemas into ``site_dir`` (as the Makefile does)."""
    package = site_dir / "forecourt"
    shutil.copytree(layer_dir / "forecourt", package, dirs_exist_ok=True)
    schemas_data = package / "schemas_data"
    schemas_data.mkdir(parents=True, exist_ok=True)
    for schema in sorted(schemas_dir.glob("*.json")):
        shutil.copy2(schema, schemas_data / schema.name)


def build_layer(out_dir: Path, layer_dir: Path = LAYER_DIR, schemas_dir: Path | None = None) -> Path:
    """Build the layer into ``out_dir/python`` from scratch and return that directory."""
    site_dir = out_dir / "python"
    if site_dir.exists():
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    pip_install(layer_dir / "requirements.txt", site_dir)
    copy_package(layer_dir, schemas_dir or REPO_ROOT / "schemas", site_dir)
    prune(site_dir)
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


def smoke_test(
    site_dir: Path, runtime_dir: Path, python: str, function_dirs: Sequence[Path] = FUNCTION_DIRS
) -> subprocess.CompletedProcess[str]:
    """Import the layer and every ``app.py`` handler with ``python``, seeing only layer and runtime."""
    search_path = os.pathsep.join([str(site_dir), str(runtime_dir)])
    env = {
        **SMOKE_ENV,
        "PYTHONPATH": search_path,
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": os.environ.get("PATH", ""),
    }
    handlers = [str(d / "app.py") for d in function_dirs if (d / "app.py").is_file()]
    return subprocess.run(
        [python, "-S", "-c", SMOKE_SCRIPT, *handlers],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m forecourt.layer_size", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--prune", type=Path, metavar="DIR", help="only prune DIR (a layer's python/ dir)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build directory (default build/layer)")
    parser.add_argument("--measure-only", action="store_true", help="measure an existing build")
    parser.add_argument("--limit-mb", type=float, default=LAMBDA_UNZIPPED_LIMIT_BYTES / MIB)
    parser.add_argument(
        "--smoke-python",
        metavar="PYTHON",
        help="Python 3.12 for the import check (default: found on PATH/pyenv)",
    )
    return parser.parse_args(argv)


def _import_check(out_dir: Path, python: str | None) -> bool:
    """Run the import check when a Python 3.12 is available; print the outcome; False when it failed."""
    if python is None:
        print("import check skipped: no python3.12 found (pass --smoke-python)")
        return True
    runtime_dir = out_dir / "runtime"
    install_runtime_stand_in(runtime_dir)
    result = smoke_test(out_dir / "python", runtime_dir, python)
    if result.returncode != 0:
        print(f"import check FAILED with {python}:\n{result.stderr}", file=sys.stderr)
        return False
    print(f"import check passed with {python}: the layer and {len(FUNCTION_DIRS)} handlers import")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (see the module docstring)."""
    args = _parse_args(argv)
    if args.prune is not None:
        freed = prune(args.prune)
        print(f"pruned {freed / MIB:.1f} MB from {args.prune}")
        return 0
    site_dir = args.out / "python"
    if not args.measure_only:
        try:
            build_layer(args.out)
        except subprocess.CalledProcessError as error:
            print(f"layer build failed: {error}", file=sys.stderr)
            return 2
    lines = measure(site_dir)
    limit_bytes = int(args.limit_mb * MIB)
    print(report(lines, limit_bytes))
    try:
        imported = _import_check(args.out, args.smoke_python or find_python312())
    except subprocess.CalledProcessError as error:
        print(f"installing the runtime's boto3 for the import check failed: {error}", file=sys.stderr)
        return 2
    if not imported:
        return 2
    return 0 if sum(line.size_bytes for line in lines) <= limit_bytes else 1


if __name__ == "__main__":
    sys.exit(main())
