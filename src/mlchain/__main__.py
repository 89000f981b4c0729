"""Allow ``python -m mlchain``."""

from mlchain._entry import main

main()
