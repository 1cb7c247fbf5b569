"""``python -m forecourt`` is the ``forecourt`` command."""

from forecourt.cli import main

main()
