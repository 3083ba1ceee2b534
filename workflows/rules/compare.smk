# The matched comparison (config["compare"]): derived experiment configs, then per data set one wide table, a
# quality-vs-NFE sweep and a grid of samples. Training, sampling and evaluation are the ordinary rules: a
# comparison run is results/<replication>/compare_<dataset>_<method>/seed<S>/.
import shlex


localrules:
    compare_config,
    compare_table,
    compare_grid,


rule compare_config:
    input:
        base=lambda wc: f"replications/{wc.rep}/configs/{COMPARE_RUNS[(wc.rep, wc.exp)]['base']}.yaml",
    output:
        f"{RESULTS}/compare/configs/{{rep}}/{{exp}}.yaml",
    wildcard_constraints:
        exp=r"compare_[A-Za-z0-9_\-]+",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/compare/configs/{{rep}}/logs/{{exp}}.log",
    params:
        sets=lambda wc: " ".join(f"--set {shlex.quote(s)}" for s in COMPARE_RUNS[(wc.rep, wc.exp)]["overrides"]),
    shell:
        "python -m shared.compare derive --replication {wildcards.rep} --base {input.base} {params.sets} "
        "--out {output} > {log} 2>&1"


rule compare_table:
    input:
        lambda wc: compare_files(wc.dataset, "metrics.json")[0],
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
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/tables/logs/compare_{{dataset}}.log",
    params:
        labels=lambda wc: " ".join(compare_files(wc.dataset, "metrics.json")[1]),
        bases=lambda wc: " ".join(r["base"] for r in compare_of(wc.dataset) for _ in r["seeds"]),
        budget=lambda wc: shlex.quote(f"Matched comparison on {wc.dataset}: {compare_budget(wc.dataset)}"),
    shell:
        "python -m shared.compare table --metrics {input} --labels {params.labels} --bases {params.bases} "
        "--title {params.budget} "
        "--out {output.md} > {log} 2>&1"


rule compare_sweep:
    input:
        ckpts=lambda wc: compare_files(wc.dataset, "checkpoint.pt")[0],
        feature_net=lambda wc: compare_feature_net(wc.dataset),
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
    benchmark:
        f"{RESULTS}/figures/logs/quality_vs_nfe_{{dataset}}.benchmark.tsv"
    threads: threads_for("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        labels=lambda wc: " ".join(compare_files(wc.dataset, "checkpoint.pt")[1]),
        sweep=lambda wc: compare_sweep_args(wc.dataset),
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    shell:
        "OMP_NUM_THREADS={threads} python -m shared.sweep --ckpt {input.ckpts} --labels {params.labels} "
        "{params.sweep} {params.feature_net} --out {output.png} > {log} 2>&1"


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
        "python -m shared.compare grid --samples {input} --labels {params.labels} --title 'Samples on {wildcards.dataset}, "
        "the same per-sample seeds in every panel' --out {output} > {log} 2>&1"
