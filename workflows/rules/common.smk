# Helpers: which runs the workflow config asks for, and where their files go.
import json
import os
import re
import shlex
from pathlib import Path

import yaml

from shared.data.images import IMAGE_SETS

# Every package under replications/ with a command line is a replication: adding one needs no edit here.
REPLICATIONS = sorted(p.parent.name for p in Path("replications").glob("*/__main__.py"))
CONDA_ENV = "../../environment.yml"  # used with --software-deployment-method conda
RESULTS = config.get("results_dir", "results")  # tests point this at a temporary folder
FEATURE_NETS = {"digits": "feature_nets/digits.pt"}  # data sets whose quality metric needs a trained feature net
COMPARE_RUNS = {}  # filled below from config["compare"]: {(replication, experiment): run}

# Runs made by a replication's reflow command from another run's checkpoint (train.smk's reflow rule).
REFLOW_RUNS = sorted({r["experiment"] for r in config["runs"] if r.get("reflow_of")})

wildcard_constraints:
    rep="|".join(REPLICATIONS),
    exp=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",
    lo=r"\d+",
    hi=r"\d+",


def runs_of(rep):
    """The runs of one replication in the workflow config."""
    return [r for r in config["runs"] if r["replication"] == rep]


def run_dirs():
    """results/<rep>/<exp>/seed<S> of every run in the config."""
    return [
        f"{RESULTS}/{r['replication']}/{r['experiment']}/seed{s}"
        for r in config["runs"]
        for s in r.get("seeds", [0])
    ]


def find_run(rep, exp):
    if (rep, exp) in COMPARE_RUNS:
        return COMPARE_RUNS[(rep, exp)]
    run = run_entry(rep, exp)
    if run is None:
        raise ValueError(f"no run {rep}/{exp} in the workflow config")
    return run


def run_entry(rep, exp):
    """The `runs:` entry of a paper run (None for a comparison run or an unknown one)."""
    return next((r for r in config["runs"] if r["replication"] == rep and r["experiment"] == exp), None)


def reflow_parent(rep, exp):
    """The experiment a reflowed run reflows (its `reflow_of`), or None."""
    run = run_entry(rep, exp)
    return run.get("reflow_of") if run else None


def base_experiment(rep, exp):
    """The experiment whose config a run comes from, through `checkpoint_of` and `reflow_of` links."""
    seen = {exp}
    while (run := run_entry(rep, exp)) is not None and (run.get("checkpoint_of") or run.get("reflow_of")):
        exp = run.get("checkpoint_of") or run.get("reflow_of")
        if exp in seen:
            raise ValueError(f"workflow config: runs: {rep}/{exp}: checkpoint_of / reflow_of form a loop")
        seen.add(exp)
    return exp


def teacher_of(rep, exp):
    """(replication, experiment) of the run whose final checkpoint teaches a distillation run, or None."""
    if (rep, exp) in COMPARE_RUNS:
        return COMPARE_RUNS[(rep, exp)].get("teacher")
    run = run_entry(rep, exp)
    return tuple(re.split(r"[/]", run["teacher"], maxsplit=1)) if run and run.get("teacher") else None  # rep/exp


def teacher_checkpoint(wildcards):
    """[the teacher's final checkpoint, same seed] of a distillation run, else []."""
    teacher = teacher_of(wildcards.rep, wildcards.exp)
    return [f"{RESULTS}/{teacher[0]}/{teacher[1]}/seed{wildcards.seed}/checkpoint.pt"] if teacher else []


def trained_experiment(rep, exp):
    """The experiment whose checkpoint a run samples: its own, or a variant run's `checkpoint_of`."""
    run = None if (rep, exp) in COMPARE_RUNS else run_entry(rep, exp)
    return run.get("checkpoint_of", exp) if run else exp


def trained_checkpoint(wildcards):
    """The final checkpoint of the run a run samples (a variant run: the trained run's, not trained again)."""
    exp = trained_experiment(wildcards.rep, wildcards.exp)
    return f"{RESULTS}/{wildcards.rep}/{exp}/seed{wildcards.seed}/checkpoint.pt"


def selection_of(rep, exp):
    """The `select` of a run: how its checkpoint is chosen (None: the last one, no selection stage)."""
    run = None if (rep, exp) in COMPARE_RUNS else run_entry(rep, exp)
    return run.get("select") if run else None


def checkpoint(wildcards):
    """The checkpoint a run samples, evaluates and plots: the snapshot that its own `select` picked (evaluate.smk);
    a variant run without one samples its trained run's pick (its selected.pt if that run selects, else its final
    checkpoint); `select: last` takes the final checkpoint whatever the trained run selects."""
    rep, exp, seed = wildcards.rep, wildcards.exp, wildcards.seed
    if selection_of(rep, exp):
        return f"{RESULTS}/{rep}/{exp}/seed{seed}/selected.pt"
    parent = trained_experiment(rep, exp)
    if parent != exp and selection_of(rep, parent):
        return f"{RESULTS}/{rep}/{parent}/seed{seed}/selected.pt"
    return trained_checkpoint(wildcards)


def variant_options(wildcards):
    """--experiment and --set of a variant run's sample / evaluate / figures commands; nothing for a trained run."""
    rep, exp = wildcards.rep, wildcards.exp
    if trained_experiment(rep, exp) == exp:
        return ""
    sets = " ".join(f"--set {shlex.quote(s)}" for s in find_run(rep, exp).get("set") or [])
    return f"--experiment {exp} {sets}"


def config_file(rep, exp):
    """The experiment config a run trains with: the paper's own file (a comparison run: its method's base config)."""
    base = base_experiment(rep, exp)
    if (rep, base) in COMPARE_RUNS:
        return f"replications/{rep}/configs/{COMPARE_RUNS[(rep, base)]['base']}.yaml"
    return f"replications/{rep}/configs/{base}.yaml"


def train_overrides(rep, exp):
    """A comparison run's name and its overrides of the base config (the shared net and budget, the method's own
    sets) as train options; nothing for a paper's own run. A change to them retrains (Snakemake's params trigger)."""
    if (rep, exp) not in COMPARE_RUNS:
        return ""
    sets = " ".join(f"--set {shlex.quote(s)}" for s in COMPARE_RUNS[(rep, exp)]["overrides"])
    return f"--experiment {exp} {sets}"


def shard_paths(rep, exp, seed):
    """Sample shards of a run: seed ranges [lo, hi] of at most sample.shard_size samples."""
    n = find_run(rep, exp).get("n_samples", config["sample"]["n_samples"])
    size = config["sample"]["shard_size"]
    run = f"{RESULTS}/{rep}/{exp}/seed{seed}"
    return [f"{run}/samples/{lo}-{min(lo + size, n) - 1}.npz" for lo in range(0, n, size)]


def shards(wildcards):
    return shard_paths(wildcards.rep, wildcards.exp, wildcards.seed)


def dataset(rep, exp):
    """The data set named by an experiment config (read as plain YAML; the CLI validates it)."""
    base = base_experiment(rep, exp)
    if (rep, base) in COMPARE_RUNS:
        return COMPARE_RUNS[(rep, base)]["data"]
    with open(f"replications/{rep}/configs/{base}.yaml") as fh:
        return (yaml.safe_load(fh) or {}).get("data", {}).get("name")


def feature_net_of(rep, exp):
    """[the feature net file] when the run's data set needs one for its quality metric, else []."""
    name = FEATURE_NETS.get(dataset(rep, exp))
    return [f"{RESULTS}/{name}"] if name else []


def feature_net(wildcards):
    return feature_net_of(wildcards.rep, wildcards.exp)


def metrics_files():
    return [f"{d}/metrics.json" for d in run_dirs()]


def figure_dirs():
    """results/<rep>/<exp>/seed<S>/figures of every run but those with `figures: false`."""
    return [
        f"{RESULTS}/{r['replication']}/{r['experiment']}/seed{s}/figures"
        for r in config["runs"]
        if r.get("figures", True)
        for s in r.get("seeds", [0])
    ]


# Which ready jobs start first when the cores are few (Snakemake's job priority; the default is 0): every training,
# then sampling, then evaluation, then figures and tables (the rules that train their own nets, NCSN's objectives and
# PFGM++'s D figure, start with the trainings). A run trained last otherwise ends the pipeline with its whole chain (an
# ODE sampling of digits, then its evaluation) on one core while the other idles.
PRIORITY = {"train": 3, "sample": 2, "evaluate": 1}


def threads_for(rule_name):
    return config.get("threads", {}).get(rule_name, 1)


def _check_runs():
    """Fail before building the DAG when a run names an experiment config that does not exist."""
    for r in config["runs"]:
        if r["replication"] not in REPLICATIONS:
            raise ValueError(
                f"workflow config: runs: unknown replication '{r['replication']}' (known: {', '.join(REPLICATIONS)})"
            )
        if (r["replication"], r["experiment"]) in COMPARE_RUNS:
            continue  # a run of the comparison: its paper figures come from the comparison's checkpoint
        name = f"{r['replication']}/{r['experiment']}"
        if r.get("checkpoint_of") and not (r.get("set") or r.get("select")) or r.get("set") and not r.get("checkpoint_of"):
            raise ValueError(
                f"workflow config: runs: {name}: a variant run needs both checkpoint_of (the trained experiment) "
                "and set (its sample-time overrides) or select (its checkpoint rule)"
            )
        if r.get("reflow_of") and (r.get("checkpoint_of") or not re.fullmatch(rf"{r['reflow_of']}_\d+rf", r["experiment"])):
            raise ValueError(
                f"workflow config: runs: {name}: a reflowed run is named <reflow_of>_<k>rf (as its checkpoint names "
                f"itself), e.g. {r['reflow_of']}_2rf, and has no checkpoint_of"
            )
        path = config_file(r["replication"], r["experiment"])
        if not os.path.isfile(path):
            known = sorted(exp for rep, exp in COMPARE_RUNS if rep == r["replication"])
            raise ValueError(
                f"workflow config: runs: experiment '{r['experiment']}' of {r['replication']}: no file {path}"
                + (f" and no comparison run of that name (those of {r['replication']}: {', '.join(known)})" if known else "")
            )


# ---- the matched comparison (config["compare"]; its rules are in compare.smk) ----

COMPARE = config.get("compare") or {}


def _method_sets(method, name, is_image):
    """A method's own overrides for one data set: keys all | toy | image | <data set name>."""
    sets = method.get("set") or {}
    return [s for key in ("all", "image" if is_image else "toy", name) for s in sets.get(key, [])]


def _compare_runs():
    """{(replication, experiment): run} of every (data set, method) pair of the compare section."""
    runs = {}
    for key in ("datasets", "methods"):
        names = [item["name"] for item in COMPARE.get(key) or []]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow config: compare: {key}: names must be unique, got {names}")
    by_name = {m["name"]: m for m in COMPARE.get("methods") or []}
    for m in COMPARE.get("methods") or []:
        if m.get("teacher") and (m["teacher"] not in by_name or by_name[m["teacher"]].get("teacher")):
            raise ValueError(
                f"workflow config: compare: method '{m['name']}': teacher '{m['teacher']}' is not a method of this list "
                "that trains from data"
            )
    for d in COMPARE.get("datasets") or []:
        name = d["name"]
        for m in COMPARE.get("methods") or []:
            method_name = m["name"]
            if m.get("datasets") and name not in m["datasets"]:
                continue
            rep, base = m["replication"], (m.get("experiment") or {}).get(name, d["experiment"])
            path = f"replications/{rep}/configs/{base}.yaml"
            if rep not in REPLICATIONS or not os.path.isfile(path):
                raise ValueError(f"workflow config: compare: method '{method_name}': no file {path}")
            data = dataset(rep, base)
            overrides = []
            if not m.get("own_train"):
                overrides += [f"train.{k}={json.dumps(v)}" for k, v in (d.get("train") or {}).items()]
            if not m.get("own_net"):
                overrides.append(f"net={json.dumps(d['net'])}")
            overrides += list(d.get("set") or [])
            for item in overrides:
                if item.startswith("data.name="):
                    data = item.split("=", 1)[1]
            overrides += _method_sets(m, name, data in IMAGE_SETS)
            exp = f"compare_{name}_{method_name}"
            runs[(rep, exp)] = {
                "replication": rep, "experiment": exp, "dataset": name, "data": data, "method": method_name,
                "base": base, "overrides": overrides, "seeds": COMPARE.get("seeds", [0]),
                "n_samples": d.get("n_samples", config["sample"]["n_samples"]),
            }
            if m.get("teacher"):
                teacher = by_name[m["teacher"]]
                runs[(rep, exp)]["teacher"] = (teacher["replication"], f"compare_{name}_{teacher['name']}")
    return runs


COMPARE_RUNS = _compare_runs()


def compare_dataset(name):
    """The compare section's entry of one data set."""
    return next(d for d in COMPARE["datasets"] if d["name"] == name)


def compare_of(name):
    """The runs of one comparison data set, in the config's method order."""
    return [r for r in COMPARE_RUNS.values() if r["dataset"] == name]


def compare_files(name, file, seed=None):
    """(paths, labels): ``file`` of every run and seed (or of one seed) of a comparison data set, with the method of
    each."""
    pairs = [
        (f"{RESULTS}/{r['replication']}/{r['experiment']}/seed{s}/{file}", r["method"])
        for r in compare_of(name)
        for s in r["seeds"]
        if seed is None or s == seed
    ]
    return [p for p, _ in pairs], [m for _, m in pairs]


def compare_first_shards(name):
    """The first sample shard of each method's first seed: the same per-sample seeds in every panel."""
    return [shard_paths(r["replication"], r["experiment"], r["seeds"][0])[0] for r in compare_of(name)]


def compare_feature_net(name):
    runs = compare_of(name)
    return feature_net_of(runs[0]["replication"], runs[0]["experiment"]) if runs else []


def compare_budget(name):
    """The shared budget of a comparison data set, in words (the table's title)."""
    d = compare_dataset(name)
    t = d.get("train") or {}
    steps = f"{t.get('steps')} steps"
    if t.get("time_budget_s"):  # matched compute in seconds: each run stops when its training seconds are spent
        steps = f"matched training seconds: {t['time_budget_s']:g} s a run (at most {t.get('steps')} steps; the steps column)"
    text = (
        f"{steps}, batch {t.get('batch_size')}, Adam lr {t.get('lr')}, EMA {t.get('ema_decay')}, "
        f"net {d['net'].get('kind')}, seeds {COMPARE.get('seeds', [0])}, {d.get('n_samples')} samples"
    )
    methods = COMPARE.get("methods") or []
    for flag, words in (("own_net", "own net"), ("own_train", "own training budget")):
        names = [m["name"] for m in methods if m.get(flag)]
        text += f"; {words}: {', '.join(names)}" if names else ""
    present = {r["method"] for r in compare_of(name)}
    taught = [f"{m['name']} from {m['teacher']}" for m in methods if m.get("teacher") and m["name"] in present]
    text += f"; distilled (the teacher's run, then this budget): {', '.join(taught)}" if taught else ""
    by_name = {m["name"]: m for m in methods}
    changed = []
    for r in compare_of(name):
        own = _method_sets(by_name[r["method"]], name, r["data"] in IMAGE_SETS)
        changed += [f"{r['method']} {' '.join(own)}"] if own else []
    return text + (f"; the methods' own settings: {', '.join(changed)}" if changed else "")


def compare_sweep_args(name):
    """The evaluate command's sweep options of a comparison data set: NFE targets, tolerances, samples per point,
    sampler families; what the config leaves out takes the command's defaults (shared.pipeline.sweep)."""
    sw = compare_dataset(name).get("sweep") or {}
    options = {"nfe": "--sweep-values", "n": "--sweep-n", "tolerances": "--sweep-tolerances", "families": "--sweep-family"}
    given = {key: v if isinstance(v, list) else [v] for key, v in sw.items() if key in options and v}
    return " ".join(f"{options[key]} {' '.join(str(x) for x in v)}" for key, v in given.items())


def compare_sweep_title(name):
    """The sweep's settings in words (the figure's title)."""
    sw = compare_dataset(name).get("sweep") or {}
    seeds = COMPARE.get("seeds", [0])
    bands = f"; lines: the mean of {len(seeds)} seeds, bands: 95 % bootstrap over them" if len(seeds) > 1 else ""
    return f"{sw.get('n', 500)} samples a point, families {', '.join(sw.get('families') or ['all'])}{bands}"


def compare_targets():
    """What `all` builds for the comparison: per data set a table, a quality-vs-NFE figure, a sample grid."""
    names = [d["name"] for d in COMPARE.get("datasets") or []]
    return (
        [f"{RESULTS}/tables/compare_{n}.md" for n in names]
        + [f"{RESULTS}/figures/quality_vs_nfe_{n}.png" for n in names]
        + [f"{RESULTS}/figures/samples_{n}.png" for n in names]
        + [f"{RESULTS}/figures/learning_curves_{d['name']}.png" for d in COMPARE.get("datasets") or [] if d.get("curve")]
    )


_check_runs()


# ---- NCSN's score-matching objectives side by side (config["objectives"]; the rule is in objectives.smk) ----

OBJECTIVES = config.get("objectives") or {}


def objectives_targets():
    """The objectives' table and figure when the workflow config asks for them."""
    return [f"{RESULTS}/ncsn/objectives/objectives.md", f"{RESULTS}/ncsn/objectives/objectives.png"] if OBJECTIVES else []


# ---- per-paper extra targets (replications/<paper>/targets.yaml; the rule is in extras.smk) ----


def _matches(kind, rep, exp):
    """Whether a run's data is of a target's `data` kind: any, toy, image, or a data set's name (e.g. digits)."""
    name = dataset(rep, exp)
    if kind not in ("any", "toy", "image"):
        return name == kind
    return kind == "any" or (kind == "image") == (name in IMAGE_SETS)


def trained_runs_of(rep):
    """The runs of one replication with checkpoints of their own (not variant runs, which sample another's)."""
    return [r for r in runs_of(rep) if not r.get("checkpoint_of")]


def _run_files(value, rep):
    src = value.get("replication", rep)
    return [
        f"{RESULTS}/{src}/{r['experiment']}/seed{s}/{value['file']}"
        for r in trained_runs_of(src)
        for s in r.get("seeds", [0])
        if _matches(value.get("data", "any"), src, r["experiment"])
    ]


def _declared_extras():
    """{output path: target} for every target of every replication, and the outputs that `all` builds."""
    extras, in_all = {}, []
    for rep in REPLICATIONS:
        path = Path(f"replications/{rep}/targets.yaml")
        if not path.is_file():
            continue
        runs = [(r["experiment"], s) for r in trained_runs_of(rep) for s in r.get("seeds", [0])]
        for t in (yaml.safe_load(path.read_text()) or {}).get("targets", []):
            own = [run for run in runs if _matches(t.get("data", "any"), rep, run[0])]
            for item in t.get("foreach", [None]):
                sub = (lambda text: text.replace("{item}", str(item))) if item is not None else (lambda text: text)
                for run in own if t.get("per_run") else [None]:
                    base = f"{RESULTS}/{rep}/{run[0]}/seed{run[1]}" if run else f"{RESULTS}/{rep}"
                    inputs, unmet = {}, False
                    for name, value in (t.get("inputs") or {}).items():
                        if isinstance(value, dict):
                            inputs[name] = _run_files(value, rep)
                            unmet = unmet or not inputs[name]  # no run of that kind in this workflow config
                        else:
                            values = value if isinstance(value, list) else [value]
                            inputs[name] = [os.path.normpath(f"{base}/{sub(v)}") for v in values]
                    if unmet:
                        continue
                    out = f"{base}/{sub(t['output'])}"
                    fnet = feature_net_of(rep, run[0]) if run and t.get("feature_net") else []
                    extras[out] = {"command": sub(t["command"]), "inputs": inputs, "feature_net": fnet}
                    if t.get("in_all", True) and runs:
                        in_all.append(out)
    return extras, in_all


EXTRAS, EXTRA_TARGETS = _declared_extras()


def extra_inputs(wildcards):
    target = EXTRAS[wildcards.extra]
    return {**target["inputs"], "run_feature_net": target["feature_net"]}


def extra_command(wildcards, input, output):
    target = EXTRAS[wildcards.extra]
    fnet = f"--feature-net {input.run_feature_net}" if target["feature_net"] else ""
    return target["command"].format(output=output[0], input=input, feature_net=fnet)


# ---- PFGM++'s sample quality against D (config["robustness"]; the rule is in robustness.smk) ----

ROBUSTNESS = config.get("robustness") or {}
ROBUSTNESS_DATASETS = {d["name"]: d for d in ROBUSTNESS.get("datasets") or []}


def robustness_targets():
    """The D tables and figures, one per data set, when the workflow config asks for them."""
    out = f"{RESULTS}/pfgmpp/robustness/robustness"
    return [f"{out}_{name}.{ext}" for name in ROBUSTNESS_DATASETS for ext in ("md", "png")]


def robustness_args(entry, feature_net):
    """The command's options for one data set of the section (seeds, steps, alphas shared; D, n_samples, set its own)."""
    args = ["--D", *(str(d) for d in entry["D"]), "--seeds", *(str(s) for s in ROBUSTNESS.get("seeds", [0]))]
    args += ["--steps", *(str(k) for k in ROBUSTNESS.get("steps", [4, 8]))]
    args += ["--alphas", *(str(a) for a in ROBUSTNESS.get("alphas", [0.0, 0.1, 0.2]))]
    args += ["--n-samples", str(entry.get("n_samples", 500))]
    args += [f"--set {shlex.quote(s)}" for s in entry.get("set") or []]
    args += [f"--feature-net {f}" for f in feature_net]
    return " ".join(args)

