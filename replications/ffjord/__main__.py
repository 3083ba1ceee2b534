"""Command line: python -m replications.ffjord train|sample|evaluate|figures --help."""

from replications.ffjord.config import Config
from replications.ffjord.method import build
from shared.cli import main

if __name__ == "__main__":
    main(build, Config, "ffjord")
