# The matched comparison (config["compare"]): per data set one wide table, a quality-vs-NFE sweep and a grid of
# samples. Training, sampling and evaluation are the ordinary rules: a comparison run is
# results/<replication>/compare_<dataset>_<method>/seed<S>/, trained from its method's base config with the shared
# net and budget as --set overrides (train.smk; the resolved config is the run's config.yaml).
import shlex


localrules:
    compare_table,
    compare_curves,
    compare_sweep,
    compare_grid,


# The data's floor: held-out real data measured as the samples are (per seed: the seed's reference), the table's
# "data" row. It reads the data config and seed off the data set's first comparison run.
rule compare_floor:
    input:
        ckpt=lambda wc: compare_files(wc.dataset, "checkpoint.pt", seed=int(wc.seed))[0][0],
        feature_net=lambda wc: compare_feature_net(wc.dataset),
    output:
        f"{RESULTS}/floor/{{dataset}}/seed{{seed}}/metrics.json",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/floor/{{dataset}}/seed{{seed}}/floor.log",
    threads: threads_for("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        n=lambda wc: compare_dataset(wc.dataset).get("n_samples", config["sample"]["n_samples"]),
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    shell:
        "OMP_NUM_THREADS={threads} python -m shared.pipeline.floor --ckpt {input.ckpt} --n {params.n} "
        "{params.feature_net} --out {output} > {log} 2>&1"


rule compare_table:
    input:
        metrics=lambda wc: compare_files(wc.dataset, "metrics.json")[0],
        floor=lambda wc: [f"{RESULTS}/floor/{wc.dataset}/seed{s}/metrics.json" for s in COMPARE.get("seeds", [0])],
    output:
        md=f"{RESULTS}/tables/compare_{{dataset}}.md",
        html=report(
            f"{RESULTS}/tables/compare_{{dataset}}.html",
            caption="../report/compare_table.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
        csv=report(
            f"{RESULTS}/tables/compare_{{dataset}}.csv",
            caption="../report/compare_table.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
        tex=f"{RESULTS}/tables/compare_{{dataset}}.tex",
        numbers=f"{RESULTS}/tables/compare_{{dataset}}_numbers.csv",
        pairs=f"{RESULTS}/tables/compare_{{dataset}}_pairs.md",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/tables/logs/compare_{{dataset}}.log",
    params:
        labels=lambda wc: " ".join(compare_files(wc.dataset, "metrics.json")[1]),
        bases=lambda wc: " ".join(r["base"] for r in compare_of(wc.dataset) for _ in r["seeds"]),
        budget=lambda wc: shlex.quote(f"Matched comparison on {wc.dataset}: {compare_budget(wc.dataset)}"),
    shell:
        "python -m shared.report.compare table --metrics {input.metrics} --floor {input.floor} --labels {params.labels} "
        "--bases {params.bases} "
        "--title {params.budget} "
        "--out {output.md} > {log} 2>&1"


# A comparison run's evaluation and its quality-vs-NFE sweep (its rows in the run's folder) in one job: one start,
# one load of the run, its data and the feature net (the evaluate rule's command with --sweep). One plot per data set.
rule compare_evaluate:
    input:
        ckpt=checkpoint,
        samples=shards,
        feature_net=feature_net,
    output:
        metrics=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/metrics.json",
        sweep=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/sweep.json",
    wildcard_constraints:
        exp="|".join(re.escape(exp) for _, exp in COMPARE_RUNS) or "(?!x)x",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/evaluate.benchmark.tsv"
    threads: threads_for("evaluate")
    priority: PRIORITY["evaluate"]
    resources:
        **rule_resources("evaluate"),
    params:
        label=lambda wc: COMPARE_RUNS[(wc.rep, wc.exp)]["method"],
        sweep=lambda wc: compare_sweep_args(COMPARE_RUNS[(wc.rep, wc.exp)]["dataset"]),
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} evaluate --ckpt {input.ckpt} "
        "--samples {input.samples} {params.feature_net} --out {output.metrics} "
        "--sweep {output.sweep} --sweep-label {params.label} {params.sweep} > {log} 2>&1"


ruleorder: compare_evaluate > evaluate


rule compare_sweep:
    input:
        lambda wc: compare_files(wc.dataset, "sweep.json")[0],
    output:
        png=report(
            f"{RESULTS}/figures/quality_vs_nfe_{{dataset}}.png",
            caption="../report/quality_vs_nfe.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
        csv=report(
            f"{RESULTS}/figures/quality_vs_nfe_{{dataset}}.csv",
            caption="../report/quality_vs_nfe.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/figures/logs/quality_vs_nfe_{{dataset}}.log",
    params:
        title=lambda wc: shlex.quote(f"Sample quality against NFE on {wc.dataset} ({compare_sweep_title(wc.dataset)})"),
    shell:
        "python -m shared.pipeline.sweep --rows {input} --title {params.title} --out {output.png} > {log} 2>&1"


rule compare_grid:
    input:
        lambda wc: compare_first_shards(wc.dataset),
    output:
        report(
            f"{RESULTS}/figures/samples_{{dataset}}.png",
            caption="../report/samples_grid.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/figures/logs/samples_{{dataset}}.log",
    params:
        labels=lambda wc: " ".join(r["method"] for r in compare_of(wc.dataset)),
    shell:
        "python -m shared.report.compare grid --samples {input} --labels {params.labels} --title 'Samples on {wildcards.dataset}, "
        "the same per-sample seeds in every panel' --out {output} > {log} 2>&1"


# Learning curves (a data set with `curve: {n: ...}` and train.snapshot_every > 0): each run's snapshots scored on n
# samples (one job per run), then one figure per data set against training steps and training seconds.
rule compare_curve_rows:
    input:
        ckpt=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/checkpoint.pt",
        feature_net=feature_net,
    output:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/curve.csv",
    wildcard_constraints:
        exp=r"compare_[A-Za-z0-9_\-]+",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/curve.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/curve.benchmark.tsv"
    threads: threads_for("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        n=lambda wc: compare_dataset(COMPARE_RUNS[(wc.rep, wc.exp)]["dataset"])["curve"]["n"],
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    shell:
        "OMP_NUM_THREADS={threads} python -m shared.pipeline.curve --ckpt {input.ckpt} --n {params.n} "
        "{params.feature_net} --out {output} > {log} 2>&1"


rule compare_curves:
    input:
        curves=lambda wc: compare_files(wc.dataset, "curve.csv")[0],
        floor=lambda wc: [f"{RESULTS}/floor/{wc.dataset}/seed{s}/metrics.json" for s in COMPARE.get("seeds", [0])],
    output:
        png=report(
            f"{RESULTS}/figures/learning_curves_{{dataset}}.png",
            caption="../report/learning_curves.rst",
            category="Comparison",
            subcategory="{dataset}",
        ),
        csv=f"{RESULTS}/figures/learning_curves_{{dataset}}.csv",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/figures/logs/learning_curves_{{dataset}}.log",
    params:
        labels=lambda wc: " ".join(compare_files(wc.dataset, "curve.csv")[1]),
        title=lambda wc: shlex.quote(
            f"Learning curves on {wc.dataset} ({compare_dataset(wc.dataset)['curve']['n']} samples a snapshot; "
            f"{compare_budget(wc.dataset)})"
        ),
    shell:
        "python -m shared.report.compare curves --curves {input.curves} --floor {input.floor} --labels {params.labels} "
        "--title {params.title} --out {output.png} > {log} 2>&1"
