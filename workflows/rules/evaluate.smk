# Metrics of a run (FID or the digits Fréchet distance, NLL / bits per dim, two-sample distances, NFE).
rule feature_net:
    output:
        f"{RESULTS}/feature_nets/digits.pt",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/feature_nets/logs/digits.log",
    benchmark:
        f"{RESULTS}/feature_nets/logs/digits.benchmark.tsv"
    threads: threads_for("evaluate")
    shell:
        "OMP_NUM_THREADS={threads} python -m shared.metrics.digits_features --seed 0 --out {output} > {log} 2>&1"


rule evaluate:
    input:
        ckpt=checkpoint,
        samples=shards,
        feature_net=feature_net,
    output:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/metrics.json",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/evaluate.benchmark.tsv"
    params:
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
        variant=variant_options,
    threads: threads_for("evaluate")
    priority: PRIORITY["evaluate"]
    resources:
        **rule_resources("evaluate"),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} evaluate --ckpt {input.ckpt} "
        "--samples {input.samples} {params.feature_net} {params.variant} --out {output} > {log} 2>&1"


# A run with `select` (the papers that report a chosen checkpoint): every weight snapshot of the trained run is scored
# by the rule with the config's select sizes, and the chosen one is what the run samples and evaluates.
rule select:
    input:
        ckpt=trained_checkpoint,
        feature_net=feature_net,
    output:
        ckpt=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/selected.pt",
        scores=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/quality_vs_step.csv",
        figure=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/quality_vs_step.png",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/select.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/select.benchmark.tsv"
    params:
        rule=lambda wc: "" if selection_of(wc.rep, wc.exp) is True else f"--rule {selection_of(wc.rep, wc.exp)}",
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    threads: threads_for("evaluate")
    resources:
        **rule_resources("evaluate"),
    shell:
        "OMP_NUM_THREADS={threads} python -m shared.pipeline.select --ckpt {input.ckpt} {params.rule} "
        "{params.feature_net} --out {output.ckpt} > {log} 2>&1"
