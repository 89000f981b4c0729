"""The pickle allowlist's version, on its own so that reports can name it cheaply.

Every report records the allowlist behind its verdicts. Reading the version must not import the
900-odd reviewed entries (:mod:`mlchain.scan.pickle.allowlist_data`): a scan with no pickle in it
never needs them. Bump it on every change to the allowlist.
"""

from __future__ import annotations

ALLOWLIST_VERSION = "2026.12.3"
