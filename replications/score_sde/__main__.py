"""Command line: python -m replications.score_sde train|sample|evaluate|figures --help."""

from replications.score_sde.config import Config
from replications.score_sde.method import build
from shared.cli import main

if __name__ == "__main__":
    main(build, Config, "score_sde")
