"""The layer build: one pruning list shared with the Makefile; Python 3.12 bytecode shipped in the
layer; the 250 MB unzipped limit (DOMAIN)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from forecourt import layer_size


def _touch(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _makefile_recipe(repo_root: Path, layer: str = "forecourt") -> str:
    return (repo_root / "layers" / layer / "Makefile").read_text()


def _pyc_flags(pyc: Path) -> int:
    """The flags word of a pyc header (PEP 552): 0 timestamp, 1 unchecked hash, 3 checked hash."""
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


@pytest.fixture(scope="session")
def python312() -> str:
    """A CPython 3.12 (Lambda's version), as the layer build finds it; the test is skipped without one."""
    python = layer_size.find_python312()
    if python is None:
        pytest.skip("no python3.12 on PATH or in pyenv: the layer's bytecode cannot be written")
    return python


def test_prune_removes_tests_headers_flight_and_runtime_provided_packages(tmp_path: Path) -> None:
    site = tmp_path / "python"
    doomed = [
        "pyarrow/tests/test_table.py",
        "pyarrow/include/arrow/api.h",
        "pyarrow/lib.pyx",
        "pyarrow/includes/libarrow.pxd",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/_substrait.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/__pycache__/compute.cpython-311.pyc",  # bytecode Lambda's python3.12 cannot read
        "pydantic/__pycache__/main.cpython-313.pyc",
        "pydantic/__pycache__/main.cpython-312.opt-1.pyc",  # Lambda does not run with -O
        "pydantic/legacy.pyc",
        "boto3/__init__.py",
        "botocore-1.35.0.dist-info/METADATA",
        "bin/pyiceberg",
    ]
    kept = [
        "pyarrow/__init__.py",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libparquet.so.2600",
        "pyarrow/libarrow_substrait.so.2600",  # pyarrow.lib links it since pyarrow 26
        "pyarrow/libarrow_acero.so.2600",
        "pyarrow/_parquet.cpython-312-x86_64-linux-gnu.so",
        "forecourt/schemas_data/leads.json",
        "pyarrow/__pycache__/compute.cpython-312.pyc",
        "pydantic/main.py",
    ]
    for name in doomed + kept:
        _touch(site / name)

    freed = layer_size.prune(site)

    assert freed == 10 * len(doomed)
    assert [name for name in doomed if (site / name).exists()] == []
    assert [name for name in kept if not (site / name).exists()] == []
    assert not (site / "pydantic" / "__pycache__").exists(), "an emptied __pycache__ goes too"


def test_prune_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        layer_size.prune(tmp_path / "absent")


def _elf_library(site: Path) -> Path:
    """A copy of a real native library (zstandard's C backend) under ``site``."""
    import shutil

    import zstandard

    library = next(Path(zstandard.__file__).parent.glob("backend_c.*.so"))
    copy = site / "zstandard" / library.name
    copy.parent.mkdir(parents=True)
    shutil.copy2(library, copy)
    return copy


def test_strip_shrinks_native_libraries_which_still_load_and_leaves_other_files(tmp_path: Path) -> None:
    if layer_size.find_strip() is None:
        pytest.skip("no strip program for x86_64 Linux libraries on this host")
    site = tmp_path / "python"
    copy = _elf_library(site)
    _touch(site / "pkg" / "not_elf.so.1", 50)
    before = copy.stat().st_size

    freed = layer_size.strip_native(site)

    assert 0 < freed == before - copy.stat().st_size
    assert (site / "pkg" / "not_elf.so.1").read_bytes() == b"x" * 50
    loads = (
        "import importlib.machinery, importlib.util, sys\n"
        "loader = importlib.machinery.ExtensionFileLoader('zstandard.backend_c', sys.argv[1])\n"
        "spec = importlib.util.spec_from_loader('zstandard.backend_c', loader)\n"
        "module = importlib.util.module_from_spec(spec); loader.exec_module(module)\n"
        "assert module.ZstdDecompressor().decompress(module.ZstdCompressor().compress(b'lake')) == b'lake'\n"
    )
    subprocess.run([sys.executable, "-c", loads, str(copy)], check=True)


def test_without_a_strip_program_nothing_is_stripped_and_the_build_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(layer_size, "find_strip", lambda: None)
    copy = _elf_library(tmp_path / "python")
    before = copy.read_bytes()

    assert layer_size.strip_native(tmp_path / "python") == 0

    assert copy.read_bytes() == before
    assert "will exceed Lambda's 250 MB" in capsys.readouterr().err


def test_only_a_strip_that_reads_x86_64_linux_libraries_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    programs = {"strip": "/usr/bin/strip"}
    monkeypatch.setattr(layer_size.shutil, "which", programs.get)
    monkeypatch.setattr(layer_size.platform, "system", lambda: "Darwin")
    assert layer_size.find_strip() is None  # Apple's strip has no --strip-unneeded for ELF
    monkeypatch.setattr(layer_size.platform, "system", lambda: "Linux")
    monkeypatch.setattr(layer_size.platform, "machine", lambda: "aarch64")
    assert layer_size.find_strip() is None  # an ARM host's GNU strip cannot read x86_64 ELF
    programs["llvm-strip"] = "/usr/bin/llvm-strip"
    assert layer_size.find_strip() == "/usr/bin/llvm-strip"


def test_measure_lists_packages_largest_first_with_dist_info_folded_and_functions(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _touch(site / "pyarrow" / "libarrow.so", 3000)
    _touch(site / "pydantic" / "main.py", 200)
    _touch(site / "pyarrow-26.0.0.dist-info" / "RECORD", 5)
    _touch(site / "pydantic-2.9.0.dist-info" / "RECORD", 7)
    _touch(site / "typing_extensions.py", 100)
    function = tmp_path / "functions" / "ingest"
    _touch(function / "app.py", 400)
    _touch(function / "__pycache__" / "app.cpython-312.pyc", 9999)

    lines = layer_size.measure(site, [function])

    assert [(line.name, line.size_bytes) for line in lines] == [
        ("pyarrow", 3000),
        ("functions/ingest", 400),
        ("pydantic", 200),
        ("typing_extensions.py", 100),
        ("*.dist-info", 12),
    ]


def test_report_flags_a_total_over_the_limit() -> None:
    lines = [
        layer_size.SizeLine("pyarrow", 200 * layer_size.MIB),
        layer_size.SizeLine("other", 60 * layer_size.MIB),
    ]
    text = layer_size.report(lines)
    assert "pyarrow" in text.splitlines()[0]
    assert text.splitlines()[-1].startswith("total")
    assert "260.0 MB" in text and "OVER the 250 MB limit" in text
    assert "within" in layer_size.report(lines[:1])


@pytest.mark.parametrize("layer", ["forecourt", "jobs"])
def test_makefile_installs_lambda_wheels_with_the_same_arguments(repo_root: Path, layer: str) -> None:
    makefile = _makefile_recipe(repo_root, layer)
    match = re.search(r"^PIP_TARGET_ARGS\s*:=\s*(.+)$", makefile, flags=re.MULTILINE)
    assert match, "the Makefile defines PIP_TARGET_ARGS"
    assert tuple(shlex.split(match.group(1))) == layer_size.PIP_TARGET_ARGS
    assert "$(PIP_TARGET_ARGS)" in makefile


def test_compile_bytecode_refuses_an_interpreter_that_is_not_python_312(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not CPython 3\.12"):
        layer_size.compile_bytecode(tmp_path, str(tmp_path / "no-such-python"))


def test_compile_bytecode_writes_unchecked_hash_pycs_lambda_uses_whatever_the_mtimes(
    tmp_path: Path, python312: str
) -> None:
    site = tmp_path / "python"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg" / "mod.py").write_text("VALUE = 2\n")
    mod_pyc = site / "pkg" / "__pycache__" / "mod.cpython-312.pyc"
    subprocess.run([python312, "-m", "py_compile", str(site / "pkg" / "mod.py")], check=True)
    assert _pyc_flags(mod_pyc) == 0, "py_compile writes a timestamp pyc, as a developer's import would"

    layer_size.compile_bytecode(site, python312)

    pycs = layer_size.bytecode_files(site)
    assert [pyc.name for pyc in pycs] == ["__init__.cpython-312.pyc", "mod.cpython-312.pyc"]
    assert [_pyc_flags(pyc) for pyc in pycs] == [1, 1]
    # As on Lambda: the sources' mtimes change (sam build, zip) and nothing may write bytecode.
    for source in (site / "pkg").glob("*.py"):
        source.touch()
    verbose = subprocess.run(
        [python312, "-S", "-v", "-c", "import pkg.mod"],
        env={"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert f"code object from '{mod_pyc}'" in verbose, "the layer's bytecode is used, not the source"


def test_time_imports_times_each_handler_in_fresh_interpreters_without_writing_bytecode(
    tmp_path: Path, python312: str
) -> None:
    site, runtime = tmp_path / "python", tmp_path / "runtime"
    (site / "dep").mkdir(parents=True)
    (site / "dep" / "__init__.py").write_text("import json\n")
    runtime.mkdir()
    functions = [tmp_path / "functions" / name for name in ("ingest", "commit")]
    for function in functions:
        function.mkdir(parents=True)
        (function / "app.py").write_text("import dep\n\ndef handler(event, context):\n    return event\n")

    times = layer_size.time_imports(site, runtime, python312, functions, runs=3)

    assert [entry.name for entry in times] == ["functions/ingest", "functions/commit"]
    assert all(len(entry.runs) == 3 and 0 < entry.median < 30 for entry in times)
    assert list(tmp_path.rglob("*.pyc")) == [], "the timed interpreters write no bytecode"


def test_time_imports_fails_when_a_handler_does_not_import(tmp_path: Path, python312: str) -> None:
    function = tmp_path / "functions" / "broken"
    function.mkdir(parents=True)
    (function / "app.py").write_text("import module_the_layer_lacks\n")
    with pytest.raises(subprocess.CalledProcessError):
        layer_size.time_imports(tmp_path, tmp_path, python312, [function], runs=1)


def test_report_import_times_gives_each_handler_its_median_and_range() -> None:
    times = [
        layer_size.ImportTime("functions/ingest", (0.61, 0.55, 0.58)),
        layer_size.ImportTime("functions/commit", (0.40, 0.31, 0.33)),
    ]
    lines = layer_size.report_import_times(times, "python3.12").splitlines()
    assert "median of 3 fresh interpreters" in lines[0]
    assert lines[1].split() == ["functions/ingest", "0.58", "s", "(0.55-0.61)"]
    assert lines[2].split() == ["functions/commit", "0.33", "s", "(0.31-0.40)"]


def test_makefile_prunes_with_this_module_and_ships_the_schemas_and_queries(repo_root: Path) -> None:
    makefile = _makefile_recipe(repo_root)
    assert '-m forecourt.layer_size --prune "$(SITE)"' in makefile
    assert 'cp "$(SCHEMAS)"/*.json "$(SITE)/forecourt/schemas_data/"' in makefile
    assert 'cp -R "$(QUERIES)" "$(SITE)/forecourt/queries_data"' in makefile
    assert "SITE = $(ARTIFACTS_DIR)/python" in makefile


def test_copy_package_ships_schemas_and_queries_where_bundled_finds_them(
    tmp_path: Path, repo_root: Path
) -> None:
    site = tmp_path / "python"

    layer_size.copy_package(repo_root / "layers" / "forecourt", repo_root / "schemas", site)

    assert (site / "forecourt" / "schemas_data" / "leads.json").is_file()
    for query in (
        "identity/scored_pairs.sql",
        "enrich/rules.json",
        "enrich/activity.sql",
        "audiences/segments.json",
        "audiences/segments/top_value.sql",
    ):
        assert (site / "forecourt" / "queries_data" / query).is_file(), query
    finds = "import forecourt.bundled as b; print(b.queries_dir(), b.schemas_dir())"
    answer = subprocess.run(
        [sys.executable, "-c", finds],
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.split() == [
        str(site / "forecourt" / "queries_data"),
        str(site / "forecourt" / "schemas_data"),
    ]


@pytest.mark.parametrize("layer", ["forecourt", "jobs"])
def test_makefile_compiles_the_bytecode_after_pruning(repo_root: Path, layer: str) -> None:
    makefile = _makefile_recipe(repo_root, layer)
    prune = makefile.index('-m forecourt.layer_size --prune "$(SITE)"')
    compile_ = makefile.index('-m forecourt.layer_size --compile "$(SITE)"')
    assert prune < compile_, "pruning first, so that no compiled module is deleted afterwards"


def test_layer_requirements_leave_boto3_to_the_runtime(repo_root: Path) -> None:
    text = (repo_root / "layers" / "forecourt" / "requirements.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    names = {re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower() for line in lines}
    assert {"aws-lambda-powertools", "pyarrow", "pyiceberg", "pydantic", "tzdata", "zipcodes"} <= names
    assert not names & {"boto3", "botocore", "moto", "duckdb", "sqlglot", "aiosmtpd", "click", "rich"}
    assert not any("pyiceberg[" in line for line in lines)


def test_the_jobs_layer_adds_only_the_sql_engine(repo_root: Path) -> None:
    text = (repo_root / "layers" / "jobs" / "requirements.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert {re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower() for line in lines} == {"duckdb", "sqlglot"}


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory, python312: str) -> Iterator[tuple[Path, str]]:
    """Downloads Lambda wheels from PyPI, builds, prunes and compiles the layer once: (out dir, output)."""
    out = tmp_path_factory.mktemp("layer")
    result = subprocess.run(
        [sys.executable, "-m", "forecourt.layer_size", "--out", str(out), "--python312", python312],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    yield out, result.stdout


@pytest.mark.slow
def test_built_layer_fits_in_250_mb_and_imports_the_handlers(built_layer: tuple[Path, str]) -> None:
    out, stdout = built_layer
    assert "within the 250 MB limit" in stdout
    assert "import check passed" in stdout
    assert re.search(r"^  functions/ingest +\d+\.\d\d s", stdout, flags=re.MULTILINE), stdout
    assert re.search(r"^  functions/commit +\d+\.\d\d s", stdout, flags=re.MULTILINE), stdout
    assert (out / "python" / "forecourt" / "schemas_data" / "leads.json").is_file()
    jobs = stdout[stdout.index("the scheduled jobs") :]
    assert "within the 250 MB limit" in jobs and "DuckDB runs and 2 job handlers import" in stdout
    assert re.search(r"^  functions/resolve +\d+\.\d\d s", stdout, flags=re.MULTILINE), stdout


@pytest.mark.slow
def test_built_layer_ships_python_312_bytecode_for_our_package_and_pydantic(
    built_layer: tuple[Path, str],
) -> None:
    site = built_layer[0] / "python"
    for package, module in (("forecourt", "schemas"), ("forecourt", "intake"), ("pydantic", "main")):
        pyc = site / package / "__pycache__" / f"{module}.cpython-312.pyc"
        assert pyc.is_file(), f"{pyc} is missing: Lambda would compile {package}.{module} on every cold start"
        assert _pyc_flags(pyc) == 1, f"{pyc} is not unchecked-hash: zip and sam build mtimes would void it"
    assert [p for p in site.rglob("*.pyc") if not p.name.endswith(".cpython-312.pyc")] == []
