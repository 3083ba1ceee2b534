"""Shared core of the replications: processes, networks, samplers, likelihood, data, training, metrics."""
