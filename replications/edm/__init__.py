"""EDM (Karras, Aittala, Aila & Laine, NeurIPS 2022, "Elucidating the Design Space of Diffusion-Based Generative
Models") on the shared core: the denoiser's preconditioning, the log-normal training levels and the loss weight of
Table 1 (with its VP and VE columns as configs), sampled by Algorithms 1 (Heun) and 2 (stochastic)."""
