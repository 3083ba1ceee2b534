"""Command line: python -m replications.ddpm train|sample|evaluate|figures --help."""

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
