"""The pipeline: the experiment config and a replication's ``Spec`` (``method``), the training loop and its run lock,
runs and commands (``runner``, ``cli``), evaluation, sampler budgets and sweeps, distributed set-up and the
error contract of every ``python -m`` entry point (``entry``)."""
