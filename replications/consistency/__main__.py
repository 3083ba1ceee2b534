"""Command line: python -m replications.consistency train|sample|evaluate|figures --help."""

from replications.consistency.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
