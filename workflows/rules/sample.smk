# Samples in shards of per-sample seeds [lo, hi]: a shard's content does not depend on the batch size.
# Each shard is its own job (its own SLURM job under the slurm profile): scale with sample.shard_size.
rule sample:
    input:
        ckpt=checkpoint,
    output:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/samples/{{lo}}-{{hi}}.npz",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/sample_{{lo}}-{{hi}}.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/sample_{{lo}}-{{hi}}.benchmark.tsv"
    params:
        variant=variant_options,
    threads: threads_for("sample")
    priority: PRIORITY["sample"]
    resources:
        **rule_resources("sample"),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} sample --ckpt {input.ckpt} "
        "--seeds {wildcards.lo}-{wildcards.hi} {params.variant} --out {output} > {log} 2>&1"
