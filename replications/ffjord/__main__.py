"""Command line: python -m replications.ffjord train|sample|evaluate|figures --help."""

from replications.ffjord.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
