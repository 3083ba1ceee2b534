# NCSN's score-matching objectives side by side (`objectives:` in the workflow config; replications/ncsn/objectives.py):
# denoising, explicit and sliced score matching trained on the same net and budget against the exact perturbed score
# of 8gaussians, over the config's seeds (several: mean and 95 % t-interval). It trains its own small nets and needs
# no run; its config file is an input, so editing it reruns the table.


rule objectives:
    input:
        config=lambda wc: OBJECTIVES.get("config", "replications/ncsn/configs/smoke_toy.yaml"),
    output:
        md=report(
            f"{RESULTS}/ncsn/objectives/objectives.md",
            caption="../report/objectives.rst",
            category="Score-matching objectives",
        ),
        png=report(
            f"{RESULTS}/ncsn/objectives/objectives.png",
            caption="../report/objectives.rst",
            category="Score-matching objectives",
        ),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/ncsn/objectives/objectives.log",
    benchmark:
        f"{RESULTS}/ncsn/objectives/objectives.benchmark.tsv"
    threads: threads_for("figures")
    priority: PRIORITY["train"]  # it trains its own nets: start it with the trainings, not last
    params:
        seeds=" ".join(str(s) for s in OBJECTIVES.get("seeds", [0])),
        sets=" ".join(f"--set {shlex.quote(s)}" for s in OBJECTIVES.get("set") or []),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.ncsn objectives --config {input.config} --seeds {params.seeds} "
        "{params.sets} --out {output.md} > {log} 2>&1"
