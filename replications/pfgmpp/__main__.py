"""Command line: python -m replications.pfgmpp train|sample|evaluate|figures|robustness --help."""

from replications.pfgmpp.method import SPEC
from shared.pipeline.cli import main

if __name__ == "__main__":
    main(SPEC)
