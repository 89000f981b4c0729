"""Scan attestations: an in-toto statement that an exact set of model files was scanned."""
