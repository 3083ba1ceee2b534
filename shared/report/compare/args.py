"""The command line both comparison commands share: one input file per method, its label, a title and the output."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.entry import command_parser
from shared.io.artifacts import check_output


def labelled_parser(command: str, doc: str | None, files: str, what: str, out: str) -> argparse.ArgumentParser:
    """``python -m shared.report.compare <command>`` with ``--<files>`` (one ``what`` per method), ``--labels``,
    ``--title`` and ``--out`` (``out`` says what it writes); the command adds its own options."""
    p = command_parser(f"shared.report.compare {command}", doc)
    p.add_argument(f"--{files}", type=Path, nargs="+", required=True, help=f"one {what} per method")
    p.add_argument("--labels", nargs="+", required=True, help="the method of each file")
    p.add_argument("--title", default="")
    p.add_argument("--out", type=Path, required=True, help=out)
    return p


def parse_labelled(p: argparse.ArgumentParser, argv: list[str] | None, files: str) -> argparse.Namespace:
    """Parse; refuse an output path that cannot be written and a label count that does not match the files (exit 2,
    one line, before any compute)."""
    args = p.parse_args(argv)
    check_output(args.out)
    n = len(getattr(args, files))
    if len(args.labels) != n:
        p.error(f"--labels: {len(args.labels)} labels for {n} {files} files")
    return args


__all__ = ["labelled_parser", "parse_labelled"]
