"""Data files the package reads at run time: the dataset schemas and the SQL of ``queries/``.

In a source checkout they are the repository's ``schemas/`` and ``queries/``; the layer build copies
them into the package as ``forecourt/schemas_data`` and ``forecourt/queries_data``
(``layer_size.copy_package``, ``layers/forecourt/Makefile``), because on Lambda only the layer is
there. The packaged copy wins when it exists.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPOSITORY = PACKAGE.parents[2]


def data_dir(name: str) -> Path:
    """``forecourt/<name>_data`` when the build packaged it, else the repository's ``<name>/``."""
    packaged = PACKAGE / f"{name}_data"
    return packaged if packaged.is_dir() else REPOSITORY / name


def schemas_dir() -> Path:
    """The dataset schema JSON files."""
    return data_dir("schemas")


def queries_dir() -> Path:
    """The SQL of ``queries/`` (identity, enrich, named)."""
    return data_dir("queries")
