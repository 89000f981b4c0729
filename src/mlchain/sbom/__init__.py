"""CycloneDX 1.6 ML-BOMs: what a model is made of and what its scan found."""
