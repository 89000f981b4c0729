"""Console-script entry point, kept import-light.

``mlchain --version`` is answered before typer (about half of start-up time) is imported; every
other invocation goes to :func:`mlchain.cli.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the mlchain command line."""
    if sys.argv[1:] == ["--version"]:
        from mlchain import __version__

        sys.stdout.write(f"mlchain {__version__}\n")
        return
    from mlchain.cli import main as cli_main

    cli_main()
