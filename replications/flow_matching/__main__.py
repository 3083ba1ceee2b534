"""Command line: python -m replications.flow_matching train|sample|evaluate|figures --help.

Reflow (Liu et al. 2023, Sec. 2) has its own entry until the shared CLI takes per-replication commands:
python -m replications.flow_matching.reflow --help.
"""

from replications.flow_matching.method import SPEC
from shared.cli import main

if __name__ == "__main__":
    main(SPEC)
