# One training rule for every replication: the config file is an input, so editing it retrains.
rule train:
    input:
        config="replications/{rep}/configs/{exp}.yaml",
    output:
        ckpt=f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/checkpoint.pt",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/{{rep}}/{{exp}}/seed{{seed}}/logs/train.log",
    threads: threads_for("train")
    resources:
        gpu=lambda wc: config.get("gpu", {}).get("train", 0),
    shell:
        "OMP_NUM_THREADS={threads} python -m replications.{wildcards.rep} train --config {input.config} "
        "--seed {wildcards.seed} --out {output.ckpt} > {log} 2>&1"
