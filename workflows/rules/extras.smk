# Per-paper targets beyond train -> sample -> evaluate -> figures (paper figures, sampler tables, sweeps), declared
# as DATA in replications/<paper>/targets.yaml and built by this ONE generic rule. A target is
#   output:   path under results/<paper>/ (per_run: under each run folder results/<paper>/<exp>/seed<S>/)
#   command:  the shell command; {output}, {input.<name>} and {feature_net} are filled in
#   inputs:   name -> path(s) relative to the same folder, or {file: F, data: D, replication: R}: file F of every
#             trained run of R (default: this paper) in the workflow config whose data matches D (toy, image, any,
#             or a data set's name such as digits); a target whose such input matches no run is left out
#   per_run:  one target per trained run of this paper in the workflow config (default false); data: D keeps only
#             the runs on such data (variant runs, which sample another run's checkpoint, have none of their own)
#   foreach:  a list of items substituted for {item} in output and inputs
#   feature_net: true when the command takes the run's --feature-net (digits)
#   in_all:   built by `snakemake` without a target (default true; only when the paper has runs in the config)
rule extra:
    input:
        unpack(extra_inputs),
    output:
        "{extra}",
    wildcard_constraints:
        extra="|".join(re.escape(o) for o in EXTRAS) or "(?!x)x",
    conda:
        CONDA_ENV
    log:
        "{extra}.log",
    benchmark:
        "{extra}.benchmark.tsv"
    params:
        cmd=extra_command,
    threads: threads_for("figures")
    shell:
        "OMP_NUM_THREADS={threads} {params.cmd} > {log} 2>&1"
