"""The matched comparison: every method on the same data, net, budget and seeds, measured by the same code.

The workflow config's ``compare:`` section names data sets, methods and one training budget; the workflow trains
each (data set, method) run from the method's own paper-faithful config with only the net, the budget and the
data overridden (``train --config <base> --experiment compare_<dataset>_<method> --set ...``), samples and evaluates
it with the usual rules, and gathers the metrics into one wide table per data set (``table``), a quality-vs-NFE
sweep (``shared.pipeline.sweep``) and a grid of samples (``grid``).

    python -m shared.report.compare table --metrics a/metrics.json b/metrics.json --labels ddpm ncsn \\
        --title "8gaussians" --out results/tables/compare_8gaussians.md
    python -m shared.report.compare grid --samples a/samples/0-1999.npz b/samples/0-1999.npz --labels ddpm ncsn \\
        --out results/figures/samples_8gaussians.png
"""
