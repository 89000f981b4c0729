"""mlchain: supply-chain security for machine-learning model artifacts.

This module only carries the version so that ``mlchain --version`` and ``--help`` stay fast:
nothing heavy is imported here.
"""

__version__ = "0.1.0"
