"""The layer build: one pruning list shared with the Makefile; the 250 MB unzipped limit (DOMAIN)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from forecourt import layer_size


def _touch(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _makefile_recipe(repo_root: Path) -> str:
    return (repo_root / "layers" / "forecourt" / "Makefile").read_text()


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
        "pyarrow/__pycache__/compute.cpython-312.pyc",
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
    ]
    for name in doomed + kept:
        _touch(site / name)

    freed = layer_size.prune(site)

    assert freed == 10 * len(doomed)
    assert [name for name in doomed if (site / name).exists()] == []
    assert [name for name in kept if not (site / name).exists()] == []


def test_prune_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        layer_size.prune(tmp_path / "absent")


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


def test_makefile_installs_lambda_wheels_with_the_same_arguments(repo_root: Path) -> None:
    makefile = _makefile_recipe(repo_root)
    match = re.search(r"^PIP_TARGET_ARGS\s*:=\s*(.+)$", makefile, flags=re.MULTILINE)
    assert match, "the Makefile defines PIP_TARGET_ARGS"
    assert tuple(shlex.split(match.group(1))) == layer_size.PIP_TARGET_ARGS
    assert "$(PIP_TARGET_ARGS)" in makefile


def test_makefile_prunes_with_this_module_and_ships_the_schemas(repo_root: Path) -> None:
    makefile = _makefile_recipe(repo_root)
    assert '-m forecourt.layer_size --prune "$(SITE)"' in makefile
    assert 'cp "$(SCHEMAS)"/*.json "$(SITE)/forecourt/schemas_data/"' in makefile
    assert "SITE = $(ARTIFACTS_DIR)/python" in makefile


def test_layer_requirements_leave_boto3_to_the_runtime(repo_root: Path) -> None:
    text = (repo_root / "layers" / "forecourt" / "requirements.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    names = {re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower() for line in lines}
    assert {"aws-lambda-powertools", "pyarrow", "pyiceberg", "pydantic", "tzdata"} <= names
    assert not names & {"boto3", "botocore", "moto", "duckdb", "sqlglot", "aiosmtpd", "click", "rich"}
    assert not any("pyiceberg[" in line for line in lines)


@pytest.mark.slow
def test_built_layer_fits_in_250_mb_and_imports_the_handlers(tmp_path: Path) -> None:
    """Downloads Lambda wheels from PyPI, builds and prunes the layer, imports it when Python 3.12 is here."""
    result = subprocess.run(
        [sys.executable, "-m", "forecourt.layer_size", "--out", str(tmp_path / "layer")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "within the 250 MB limit" in result.stdout
    assert (tmp_path / "layer" / "python" / "forecourt" / "schemas_data" / "leads.json").is_file()
