# Helpers: which runs the workflow config asks for, and where their files go.
import os

REPLICATIONS = ["ncsn", "ddpm", "score_sde", "pfgm", "ffjord"]
CONDA_ENV = "../../environment.yml"  # used with --software-deployment-method conda
RESULTS = config.get("results_dir", "results")  # tests point this at a temporary folder
IMAGE_DATA_NEEDING_FEATURE_NET = {"digits"}
EXTRA_TARGETS = []  # paper-specific targets (figures, comparisons); each paper's .smk appends its own

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
    for r in config["runs"]:
        if r["replication"] == rep and r["experiment"] == exp:
            return r
    raise ValueError(f"no run {rep}/{exp} in the workflow config")


def shards(wildcards):
    """Sample shards of a run: seed ranges [lo, hi] of at most sample.shard_size samples."""
    n = find_run(wildcards.rep, wildcards.exp).get("n_samples", config["sample"]["n_samples"])
    size = config["sample"]["shard_size"]
    run = f"{RESULTS}/{wildcards.rep}/{wildcards.exp}/seed{wildcards.seed}"
    return [f"{run}/samples/{lo}-{min(lo + size, n) - 1}.npz" for lo in range(0, n, size)]


def dataset_of(wildcards):
    """The data set named by an experiment config (read as plain YAML; the CLI validates it)."""
    import yaml

    with open(f"replications/{wildcards.rep}/configs/{wildcards.exp}.yaml") as fh:
        return (yaml.safe_load(fh) or {}).get("data", {}).get("name")


def feature_net(wildcards):
    return [f"{RESULTS}/feature_nets/digits.pt"] if dataset_of(wildcards) in IMAGE_DATA_NEEDING_FEATURE_NET else []


def metrics_files():
    return [f"{d}/metrics.json" for d in run_dirs()]


def figure_dirs():
    return [f"{d}/figures" for d in run_dirs()]


def threads_for(rule_name):
    return config.get("threads", {}).get(rule_name, 1)


def _check_runs():
    """Fail before building the DAG when a run names an experiment config that does not exist."""
    for r in config["runs"]:
        path = f"replications/{r['replication']}/configs/{r['experiment']}.yaml"
        if not os.path.isfile(path):
            raise ValueError(f"workflow config: runs: experiment '{r['experiment']}' of {r['replication']}: no file {path}")


_check_runs()
