# PFGM++'s sample quality against the augmentation dimension D (`robustness:` in the workflow config;
# replications/pfgmpp/robustness.py): every D, and D = inf (EDM's Gaussian kernel), trained alike from the same
# initial weights, sampled with fewer steps and with noise injected at every step, against the data's own floor.
# It trains its own nets and needs no run; its config file is an input, so editing it reruns the table.


rule robustness:
    input:
        config=lambda wc: ROBUSTNESS_DATASETS[wc.dataset]["config"],
        feature_net=lambda wc: [f"{RESULTS}/{FEATURE_NETS[wc.dataset]}"] if wc.dataset in FEATURE_NETS else [],
    output:
        md=report(
            f"{RESULTS}/pfgmpp/robustness/robustness_{{dataset}}.md",
            caption="../report/robustness.rst",
            category="PFGM++: quality against D",
        ),
        png=report(
            f"{RESULTS}/pfgmpp/robustness/robustness_{{dataset}}.png",
            caption="../report/robustness.rst",
            category="PFGM++: quality against D",
        ),
    wildcard_constraints:
        dataset="|".join(ROBUSTNESS_DATASETS) or "no_data_set",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/pfgmpp/robustness/robustness_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/pfgmpp/robustness/robustness_{{dataset}}.benchmark.tsv"
    threads: threads_for("figures")
    priority: PRIORITY["train"]  # it trains its own nets: start it with the trainings, not last
    params:
        args=lambda wc, input: robustness_args(ROBUSTNESS_DATASETS[wc.dataset], input.feature_net),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.pfgmpp robustness --config {input.config} {params.args} "
        "--out {output.md} > {log} 2>&1"
