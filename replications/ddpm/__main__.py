"""Command line: python -m replications.ddpm train|sample|evaluate|figures --help."""

from replications.ddpm.config import Config
from replications.ddpm.method import build
from shared.cli import main

if __name__ == "__main__":
    main(build, Config, "ddpm")
