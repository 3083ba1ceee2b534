"""PFGM — Xu, Liu, Tegmark & Jaakkola (2022), "Poisson Flow Generative Models", NeurIPS."""
