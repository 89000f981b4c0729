"""Signing and verification in the OpenSSF model-signing (OMS) format, via model-signing."""
