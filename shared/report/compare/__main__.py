"""``python -m shared.report.compare table|grid``: see ``shared.report.compare``."""

import sys

from shared.report.compare import curves, grid, table

COMMANDS = {"table": table.main, "grid": grid.main, "curves": curves.main}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python -m shared.report.compare {{{'|'.join(COMMANDS)}}} ... (--help after a command)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
