"""Coverage-guided fuzz targets for mlchain's parsers (atheris); see fuzz/README.md."""
