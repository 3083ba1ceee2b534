# Score-SDE specific targets (sampler comparison, exact-score figures); appends to EXTRA_TARGETS.
