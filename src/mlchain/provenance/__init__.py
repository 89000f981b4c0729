"""In-toto attestations that describe how a model was built (SLSA Provenance v1).

Statements are plain JSON built by hand: the protobuf ``Struct`` of ``in_toto_attestation`` turns
integers into floats, which would change what a verifier reads.
"""
