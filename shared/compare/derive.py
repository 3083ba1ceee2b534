"""Derive a comparison run's experiment config: a paper-faithful config with only net, budget and data overridden.

The result is validated against the replication's schema (``shared.config.load``) and written in full, so the
train command sees an ordinary experiment config whose file name is the run's experiment name.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from shared.config import ConfigError, dump, load


def derive(replication: str, base: Path, overrides: list[str], out: Path) -> None:
    """Load ``base`` with ``overrides`` into the replication's Config and write it to ``out`` (atomically)."""
    spec = importlib.import_module(f"replications.{replication}.method").SPEC
    cfg = load(base, spec.config, overrides)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    dump(cfg, tmp)
    header = f"# derived by shared.compare from {base} with: {'; '.join(overrides) or 'no overrides'}\n"
    tmp.write_text(header + tmp.read_text())
    tmp.replace(out)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m shared.compare derive", description=__doc__)
    p.add_argument("--replication", required=True)
    p.add_argument("--base", type=Path, required=True, help="the method's own experiment config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override (repeatable)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        derive(args.replication, args.base, args.set, args.out)
    except (ConfigError, FileNotFoundError, ModuleNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
