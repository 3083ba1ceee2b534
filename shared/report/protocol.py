"""Protocol tables: every constant of a paper-scale config beside the paper's and the official code's.

``replications/<paper>/protocol.yaml`` holds one table per paper-scale experiment. A row names a constant, the
paper's or official value with its source (section, table, or official file and line), ours and, where they differ,
why. A row with a ``key`` is tied to the config: ``ours`` must equal the resolved config at that dotted path, so the
table and the configs cannot drift apart. Special keys: ``params`` (the parameter count of the net the config
builds) and ``run.<field>`` (the experiment's entry in ``runs:`` of ``workflows/config/paper.yaml``).

    python -m shared.report.protocol [--check] [replications/<paper> ...]

checks every table against the configs and the workflow's paper runs, and (without ``--check``) rewrites the block
between the markers in the replication's README.md. tests/replications/test_protocol.py runs the same checks.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import ConfigError, apply_overrides, from_dict, read_yaml, to_dict

SECTIONS = ("data", "net", "process", "loss", "optimiser", "ema", "training", "sampler", "likelihood", "evaluation")
BEGIN = "<!-- protocol:begin (generated from protocol.yaml by `python -m shared.report.protocol`; edit that file) -->"
END = "<!-- protocol:end -->"
PAPER_WORKFLOW = Path("workflows/config/paper.yaml")
ROW_KEYS = {"section", "what", "key", "ours", "paper", "source", "why"}
TABLE_KEYS = {"title", "config", "overrides", "rows"}


@dataclass(frozen=True)
class Row:
    """One constant: the paper's (or the official code's) value and source, ours, and why they differ."""

    section: str
    what: str
    paper: Any
    source: str
    ours: Any
    key: str | None = None
    why: str = ""

    @property
    def differs(self) -> bool:
        return not same(self.ours, self.paper)


@dataclass(frozen=True)
class Table:
    """The protocol of one paper-scale run: ``config`` (a stem under configs/) with ``overrides`` applied."""

    id: str
    title: str
    config: str
    overrides: tuple[str, ...]
    rows: tuple[Row, ...]


def same(a: Any, b: Any) -> bool:
    """Equal values; numbers to a relative 1e-9 (YAML's 2.0e-4 against a float32 round trip), lists elementwise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _text(value: Any, where: str, name: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"{where}: {name}: expected a non-empty string, got {value!r}")
    return value


def _check_mapping(value: Any, allowed: set[str], where: str, wanted: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping with {wanted}")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def read(folder: str | Path) -> list[Table]:
    """The tables of ``folder/protocol.yaml``; a malformed file raises ConfigError naming the table, row and key."""
    path = Path(folder) / "protocol.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of table ids to tables (see shared/report/protocol.py)")
    tables = []
    for tid, body in data.items():
        where = f"{path}: {tid}"
        _check_mapping(body, TABLE_KEYS, where, "title, rows (and optionally config, overrides)")
        overrides = body.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"{where}: overrides: expected a list of KEY=VALUE strings")
        raw_rows = body.get("rows")
        if not isinstance(raw_rows, list) or not raw_rows:
            raise ConfigError(f"{where}: rows: expected a non-empty list of rows")
        rows = []
        for i, r in enumerate(raw_rows):
            at = f"{where}: rows[{i}]"
            _check_mapping(r, ROW_KEYS, at, "section, what, paper, source, ours")
            for name in ("paper", "ours"):
                if name not in r:
                    raise ConfigError(f"{at}: {name}: missing (write null for 'not stated')")
            section = r.get("section")
            if section not in SECTIONS:
                raise ConfigError(f"{at}: section: {section!r} is not one of {', '.join(SECTIONS)}")
            rows.append(
                Row(
                    section=section,
                    what=_text(r.get("what"), at, "what"),
                    paper=r["paper"],
                    source=_text(r.get("source"), at, "source"),
                    ours=r["ours"],
                    key=_text(r.get("key"), at, "key", required=False) or None,
                    why=_text(r.get("why"), at, "why", required=False),
                )
            )
        rows.sort(key=lambda row: SECTIONS.index(row.section))  # stable: the file's order within a section
        tables.append(
            Table(
                id=str(tid),
                title=_text(body.get("title"), where, "title"),
                config=str(body.get("config") or tid),
                overrides=tuple(overrides),
                rows=tuple(rows),
            )
        )
    return tables


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            raise KeyError(dotted)
        tree = tree[part]
    return tree


def paper_runs(path: str | Path = PAPER_WORKFLOW) -> list[dict]:
    """The ``runs:`` of the workflow's paper config."""
    return list((read_yaml(path) or {}).get("runs") or [])


def find_paper_run(runs: list[dict], replication: str, table: Table) -> dict | None:
    """The paper run that this table describes: the experiment of the table's id."""
    for run in runs:
        if run.get("replication") == replication and run.get("experiment") == table.id:
            return run
    return None


def base_config(runs: list[dict], replication: str, run: dict) -> str:
    """The config stem a paper run comes from, through its `checkpoint_of` / `reflow_of` links."""
    seen = {run["experiment"]}
    while run.get("checkpoint_of") or run.get("reflow_of"):
        parent = run.get("checkpoint_of") or run.get("reflow_of")
        nxt = next((r for r in runs if r.get("replication") == replication and r.get("experiment") == parent), None)
        if nxt is None or parent in seen:
            return parent
        seen.add(parent)
        run = nxt
    return run["experiment"]


def resolve(folder: Path, table: Table) -> tuple[Any, dict]:
    """(the replication's Spec, the resolved config as a plain dict) of one table."""
    spec = importlib.import_module(f"replications.{folder.name}.method").SPEC
    path = folder / "configs" / f"{table.config}.yaml"
    data = read_yaml(path)
    cfg = from_dict(spec.config, apply_overrides(data, list(table.overrides)), str(path))
    return spec, cfg


def n_params(spec: Any, cfg: Any) -> int:
    """Parameter count of the net a config builds: on the meta device (shapes only, no memory, no init), or on the
    CPU for a builder that computes with real numbers."""
    import torch

    try:
        with torch.device("meta"):
            net = spec.build(cfg).net
    except (NotImplementedError, RuntimeError):
        net = spec.build(cfg).net
    return sum(p.numel() for p in net.parameters())


def problems(folder: str | Path, runs: list[dict] | None = None, tables: list[Table] | None = None) -> list[str]:
    """Every way the tables of ``folder`` (read from it unless given) disagree with the configs, the workflow's paper
    runs or themselves."""
    folder = Path(folder)
    runs = paper_runs() if runs is None else runs
    out = []
    for table in read(folder) if tables is None else tables:
        where = f"{folder / 'protocol.yaml'}: {table.id}"
        try:
            spec, cfg = resolve(folder, table)
        except (ConfigError, FileNotFoundError) as err:
            out.append(f"{where}: {err}")
            continue
        resolved = to_dict(cfg)
        run = find_paper_run(runs, folder.name, table)
        if run is None:
            out.append(f"{where}: no run with experiment '{table.id}' in {PAPER_WORKFLOW}")
        elif base_config(runs, folder.name, run) != table.config or list(run.get("set") or []) != list(table.overrides):
            out.append(
                f"{where}: its run in {PAPER_WORKFLOW} must come from configs/{table.config}.yaml (itself, or through "
                f"checkpoint_of / reflow_of) with set: {list(table.overrides)}"
            )
        params: list[int] = []  # the net is built only if a row asks for its size
        for row in table.rows:
            at = f"{where}: '{row.what}'"
            if row.differs and not row.why.strip():
                out.append(f"{at}: ours {row.ours!r} differs from the paper's {row.paper!r}: say why")
            if row.key is None:
                continue
            try:
                if row.key == "params":
                    params = params or [n_params(spec, cfg)]
                    actual = params[0]
                elif row.key.startswith("run."):
                    actual = _lookup(run or {}, row.key[4:])
                else:
                    actual = _lookup(resolved, row.key)
            except KeyError:
                out.append(f"{at}: key {row.key} is not in the resolved config (or the run)")
                continue
            if not same(row.ours, actual):
                out.append(f"{at}: ours is {row.ours!r} in the table but {actual!r} at {row.key}")
    return out


def fmt(value: Any) -> str:
    """A table cell: yes/no, thousands separators, %g floats, [a, b] lists, a dash for null."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return " ".join(str(value).split()).replace("|", "\\|")


def render(tables: list[Table]) -> str:
    """The README block: one Markdown table per experiment; ≠ marks a departure from the paper."""
    lines = [BEGIN, ""]
    for table in tables:
        lines.append(f"### `{table.id}`: {fmt(table.title)}")
        lines.append("")
        config = f"`configs/{table.config}.yaml`"
        if table.overrides:
            config += " sampled with " + ", ".join(f"`--set {o}`" for o in table.overrides)
        n_diff = sum(row.differs for row in table.rows)
        lines.append(f"Config: {config}. {len(table.rows)} constants, {n_diff} departing from the paper (≠).")
        lines.append("")
        lines.append("| section | constant | paper / official | source | ours | why ours differs |")
        lines.append("|---|---|---|---|---|---|")
        last = None
        for row in table.rows:
            section = row.section if row.section != last else ""
            last = row.section
            mark = "≠ " if row.differs else ""
            what = f"{fmt(row.what)} (`{row.key}`)" if row.key else fmt(row.what)
            cells = [section, what, fmt(row.paper), fmt(row.source), mark + fmt(row.ours), fmt(row.why)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def readme_with(readme: str, block: str, path: Path) -> str:
    """``readme`` with the block between the markers replaced by ``block``."""
    start = next((i for i, line in enumerate(readme.splitlines()) if line.startswith(BEGIN[:20])), None)
    lines = readme.splitlines()
    end = next((i for i, line in enumerate(lines) if line.strip() == END), None)
    if start is None or end is None or end < start:
        raise ConfigError(f"{path}: no '{BEGIN[:20]} ...' / '{END}' marker lines; add them where the table goes")
    return "\n".join(lines[:start] + [block] + lines[end + 1 :]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shared.report.protocol",
        description="Check the protocol tables against the configs and render them into the replications' READMEs.",
    )
    parser.add_argument("folders", nargs="*", type=Path, help="replications/<paper> (default: every one with a table)")
    parser.add_argument("--check", action="store_true", help="check only; exit 1 if a table or README is out of date")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p.parent for p in Path("replications").glob("*/protocol.yaml"))
    failed = []
    runs = paper_runs()  # bad input anywhere below: one line, exit 2 (shared.entry.run_main)
    for folder in folders:
        if not (folder / "protocol.yaml").is_file():
            raise ConfigError(f"{folder}: no protocol.yaml (expected replications/<paper>/protocol.yaml)")
        tables = read(folder)
        found = problems(folder, runs, tables)
        readme = folder / "README.md"
        text = readme.read_text()
        new = readme_with(text, render(tables), readme)
        if found:
            failed += found
        elif new != text:
            if args.check:
                failed.append(f"{readme}: the protocol block is out of date: python -m shared.report.protocol {folder}")
            else:
                from shared.io.atomic import save_text

                save_text(new, readme)
                print(f"{readme}: protocol tables rendered")
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
