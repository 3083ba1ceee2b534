"""Command line: python -m replications.edm train|sample|evaluate|figures --help."""

from replications.edm.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
