"""Consistency models (Song, Dhariwal, Chen & Sutskever, ICML 2023) on the shared core: distilled from a trained flow
(consistency distillation) or trained from data alone (consistency training), sampled in one or a few steps."""
