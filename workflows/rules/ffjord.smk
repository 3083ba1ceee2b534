# FFJORD specific targets (the toy-density figure); appends to EXTRA_TARGETS.
