"""Allow ``python -m mlchain``."""

from mlchain.cli import main

main()
