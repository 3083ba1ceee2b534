# Cluster resources of each job, read from the `resources` section of the workflow config (one place to edit).
# Keys of each job kind = gpu, gpu_model, cpus_per_gpu, runtime (minutes), mem_mb; train also stop_margin, retries.
# A key left out stays unset, so the profile's default-resources apply (partition, runtime, mem_mb).


def res(rule_name, key, default=None):
    """resources.<job>.<key> of the workflow config; falls back to the older `gpu: {<rule>: n}` for gpu."""
    if key == "gpu":
        default = config.get("gpu", {}).get(rule_name, 0 if default is None else default)
    return config.get("resources", {}).get(rule_name, {}).get(key, default)


def rule_resources(rule_name, keys=("gpu", "gpu_model", "cpus_per_gpu", "runtime", "mem_mb")):
    """The resources a job declares, i.e. those the workflow config sets (gpu always, 0 by default)."""
    chosen = {key: res(rule_name, key) for key in keys}
    return {key: value for key, value in chosen.items() if value is not None}


def launcher(rule_name):
    """`python`, or torchrun with one process per GPU when the rule asks for more than one GPU."""
    n = int(res(rule_name, "gpu", 0))
    return f"torchrun --standalone --nproc-per-node={n}" if n > 1 else "python"


def time_budget(resources):
    """--max-minutes for training under SLURM: the job's runtime less resources.train.stop_margin (default 10)."""
    runtime = getattr(resources, "runtime", None)
    if not runtime:
        return ""
    return f"--max-minutes {max(1, int(runtime) - int(res('train', 'stop_margin', 10)))}"
