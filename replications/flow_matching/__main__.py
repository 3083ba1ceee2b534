"""Command line: python -m replications.flow_matching train|sample|evaluate|figures|reflow --help."""

from replications.flow_matching.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
