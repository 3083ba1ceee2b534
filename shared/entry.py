"""The one error contract of every ``python -m`` entry point, in a module light enough for any of them to import.

A bad input (config, option, file, path: ``shared.config.InputError``, which ``ConfigError`` and
``shared.io.artifacts.ArtifactError`` are) or an I/O error prints one line naming it and exits with status 2; a run
that diverges (non-finite numbers) exits with status 1. argparse's own errors already exit with status 2.

A module's main block calls ``run_main(main)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from shared.config import InputError


def command_parser(module: str, description: str | None, **kwargs) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``: its ``--help`` shows ``description`` (the module docstring) as written."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )


def fail(message: str, status: int) -> None:
    """Print ``error: <message>`` on one line and exit with ``status``."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status) from None


def guarded(run: Callable[[], object]) -> None:
    """Run a command under the contract above; a non-zero int it returns becomes the exit status."""
    try:
        status = run()
    except (InputError, FileNotFoundError) as err:
        fail(str(err), 2)
    except OSError as err:  # a full disk, a permission denied mid-run: the message names the file
        where = f"{err.filename}: " if err.filename else ""
        fail(f"{where}{err.strerror or err}", 2)
    except FloatingPointError as err:
        fail(str(err), 1)
    if isinstance(status, int) and status:
        raise SystemExit(status)


def run_main(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """``python -m`` of a module with its own ``main(argv)`` (figure scripts, sweeps, tables): ``guarded``."""
    guarded(lambda: main(argv))
