"""Command line: python -m replications.progressive_distillation train|sample|evaluate|figures --help."""

from replications.progressive_distillation.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
