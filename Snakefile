# Table of contents of the pipeline: train -> sample -> evaluate -> figures -> tables.
# Default config: the smoke runs (CPU, minutes). Paper runs: --configfile workflows/config/paper.yaml
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "workflows/config/smoke.yaml"


validate(config, "workflows/schemas/config.schema.yaml")


report: "workflows/report/workflow.rst"  # snakemake --report results/report.html (make report)


include: "workflows/rules/common.smk"
include: "workflows/rules/resources.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/sample.smk"
include: "workflows/rules/evaluate.smk"
include: "workflows/rules/report.smk"
include: "workflows/rules/extras.smk"
include: "workflows/rules/compare.smk"
include: "workflows/rules/objectives.smk"
include: "workflows/rules/robustness.smk"


rule all:
    input:
        [f"{RESULTS}/tables/summary.md"] if config["runs"] else [],
        figure_dirs(),
        EXTRA_TARGETS,
        compare_targets(),
        objectives_targets(),
        robustness_targets(),
