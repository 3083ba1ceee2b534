"""Command line: python -m replications.pfgm train|sample|evaluate|figures --help."""

from replications.pfgm.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
