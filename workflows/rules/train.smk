# One training rule for every replication: the config file is an input, so editing it retrains.
# More than one GPU: torchrun starts one DDP process per GPU inside the job. Under SLURM, training checkpoints
# and exits (status 75) stop_margin minutes before the job's runtime; `retries` resubmits it and it resumes.


rule train:
    input:
        config=lambda wc: config_file(wc.rep, wc.exp),
        teacher=teacher_checkpoint,  # a distillation's teacher (`teacher` in the workflow config), else nothing
    output:
        ckpt=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/checkpoint.pt",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/train.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/train.benchmark.tsv"
    threads: threads_for("train")
    priority: PRIORITY["train"]
    retries: res("train", "retries", 0)
    resources:
        **rule_resources("train"),
    params:
        launch=launcher("train"),
        overrides=lambda wc: train_overrides(wc.rep, wc.exp),
        teacher=lambda wc, input: f"--set objective.teacher={input.teacher}" if input.teacher else "",
        budget=lambda wc, resources: time_budget(resources),
    shell:
        "OMP_NUM_THREADS={threads} {params.launch} -m replications.{wildcards.rep} train --config {input.config} "
        "{params.overrides} {params.teacher} --seed {wildcards.seed} --out {output.ckpt} ${{SLURM_JOB_ID:+{params.budget}}} >> {log} 2>&1"


# A reflowed run (`reflow_of` in the workflow config): pairs from the parent run's flow, then training on them
# (python -m replications.<rep> reflow); it writes the run's checkpoint in place of `train`.
rule reflow:
    input:
        ckpt=lambda wc: f"{RESULTS}/{wc.rep}/{reflow_parent(wc.rep, wc.exp)}/seed{wc.seed}/checkpoint.pt",
    output:
        ckpt=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/checkpoint.pt",
    wildcard_constraints:
        exp="|".join(re.escape(e) for e in REFLOW_RUNS) or "(?!x)x",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/reflow.log",
    benchmark:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/reflow.benchmark.tsv"
    threads: threads_for("train")
    priority: PRIORITY["train"]
    retries: res("reflow", "retries", 0)
    resources:
        **rule_resources("reflow"),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} reflow --ckpt {input.ckpt} "
        "--out {output.ckpt} >> {log} 2>&1"


ruleorder: reflow > train
