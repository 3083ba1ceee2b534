"""Command line: python -m replications.score_sde train|sample|evaluate|figures --help."""

from replications.score_sde.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
