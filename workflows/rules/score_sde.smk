# Score-SDE specific targets (Song et al. 2021): exact-score path figure (Fig. 1-2 idea), sampler comparison per run
# (Table 1 idea) and NFE against ODE tolerance (Fig. 3 idea). Appends to EXTRA_TARGETS when score_sde runs exist.


from types import SimpleNamespace

SCORE_SDE_IMAGE_DATA = {"digits", "mnist", "cifar10"}
# (experiment, results dir, is an image run) of every score_sde run in the workflow config
SCORE_SDE_RUNS = [
    (
        r["experiment"],
        f"{RESULTS}/score_sde/{r['experiment']}/seed{s}",
        dataset_of(SimpleNamespace(rep="score_sde", exp=r["experiment"])) in SCORE_SDE_IMAGE_DATA,
    )
    for r in runs_of("score_sde")
    for s in r.get("seeds", [0])
]


rule score_sde_paths:
    output:
        f"{RESULTS}/score_sde/figures/paths.png",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/score_sde/figures/logs/paths.log",
    threads: threads_for("figures")
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.score_sde.figures paths --out {output} > {log} 2>&1"


rule score_sde_samplers:
    input:
        ckpt=f"{RESULTS}/score_sde/{{exp}}/seed{{seed}}/checkpoint.pt",
        feature_net=lambda wc: feature_net(SimpleNamespace(rep="score_sde", exp=wc.exp)),
    output:
        f"{RESULTS}/score_sde/{{exp}}/seed{{seed}}/samplers.md",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/score_sde/{{exp}}/seed{{seed}}/logs/samplers.log",
    params:
        # images: fewer samples and steps, to keep the smoke pipeline CPU-sized
        size=lambda wc: (
            "--n 100 --steps 25"
            if dataset_of(SimpleNamespace(rep="score_sde", exp=wc.exp)) in SCORE_SDE_IMAGE_DATA
            else "--n 1000 --steps 50"
        ),
        feature_net=lambda wc, input: f"--feature-net {input.feature_net}" if input.feature_net else "",
    threads: threads_for("figures")
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.score_sde.figures samplers --ckpt {input.ckpt} "
        "{params.size} {params.feature_net} --out {output} > {log} 2>&1"


rule score_sde_nfe:
    input:
        ckpts=[f"{d}/checkpoint.pt" for _, d, image in SCORE_SDE_RUNS if not image],
    output:
        f"{RESULTS}/score_sde/figures/nfe_vs_tolerance.png",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/score_sde/figures/logs/nfe_vs_tolerance.log",
    threads: threads_for("figures")
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.score_sde.figures nfe --ckpt {input.ckpts} "
        "--out {output} > {log} 2>&1"


if runs_of("score_sde"):
    EXTRA_TARGETS += [
        f"{RESULTS}/score_sde/figures/paths.png",
        f"{RESULTS}/score_sde/figures/nfe_vs_tolerance.png",
    ] + [f"{d}/samplers.md" for _, d, _ in SCORE_SDE_RUNS]
