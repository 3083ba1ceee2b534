# FFJORD specific targets: the 2-D density figure (Grathwohl et al. 2019, Fig. 2), its own target, not in `all`:
#   snakemake --cores all ffjord_toy_figure
# The toy runs (replications/ffjord/configs/toy_<set>.yaml) are trained by the shared `train` rule.
FFJORD_TOY_SETS = ["8gaussians", "checkerboard", "swissroll", "pinwheel", "2spirals", "rings"]
FFJORD_FIGURE_DIR = f"{RESULTS}/ffjord/toy_figure"
FFJORD_EVAL_TOL = 1e-5  # Sec. 4: dopri5 at atol = rtol = 1e-5 (the toy configs train at 1e-3 for CPU budget)


rule ffjord_toy_panel:
    input:
        ckpt=f"{RESULTS}/ffjord/toy_{{toyset}}/seed0/checkpoint.pt",
    output:
        f"{FFJORD_FIGURE_DIR}/panels/{{toyset}}.npz",
    wildcard_constraints:
        toyset="|".join(FFJORD_TOY_SETS),
    conda:
        CONDA_ENV
    log:
        f"{FFJORD_FIGURE_DIR}/logs/panel_{{toyset}}.log",
    params:
        tol=FFJORD_EVAL_TOL,
    threads: threads_for("evaluate")
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.ffjord.toy_figure panel --ckpt {input.ckpt} "
        "--out {output} --tol {params.tol} > {log} 2>&1"


rule ffjord_toy_figure:
    input:
        expand(f"{FFJORD_FIGURE_DIR}/panels/{{toyset}}.npz", toyset=FFJORD_TOY_SETS),
    output:
        png=f"{FFJORD_FIGURE_DIR}/toy_densities.png",
        table=f"{FFJORD_FIGURE_DIR}/toy_nll.md",
    conda:
        CONDA_ENV
    log:
        f"{FFJORD_FIGURE_DIR}/logs/figure.log",
    shell:
        "python -m replications.ffjord.toy_figure assemble --panels {input} --out {output.png} "
        "--table {output.table} > {log} 2>&1"
