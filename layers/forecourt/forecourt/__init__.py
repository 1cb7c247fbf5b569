"""Forecourt: the OEM–dealer data-sharing pipeline (domain package, shipped as a Lambda layer)."""

__version__ = "0.1.0"
