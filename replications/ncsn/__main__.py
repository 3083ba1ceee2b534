"""Command line: python -m replications.ncsn train|sample|evaluate|figures --help."""

from replications.ncsn.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
