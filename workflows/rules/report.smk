# Figures of each run, and the summary tables of all runs (paper beside ours).
rule figures:
    input:
        ckpt=checkpoint,
        samples=shards,
    output:
        directory(f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/figures"),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/figures.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/figures.benchmark.tsv"
    params:
        variant=variant_options,
    threads: threads_for("figures")
    resources:
        **rule_resources("figures", keys=("runtime", "mem_mb")),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} figures --ckpt {input.ckpt} "
        "--samples {input.samples} {params.variant} --out-dir {output} > {log} 2>&1"


rule tables:
    input:
        metrics_files(),
    output:
        md=f"{RESULTS}/tables/summary.md",
        csv=report(f"{RESULTS}/tables/summary.csv", caption="../report/summary.rst", category="Runs beside the papers"),
        html=report(f"{RESULTS}/tables/summary.html", caption="../report/summary.rst", category="Runs beside the papers"),
        runs=f"{RESULTS}/tables/runs.csv",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/tables/logs/tables.log",
    shell:
        "python -m shared.report.summary --metrics {input} --out-dir $(dirname {output.md}) > {log} 2>&1"
