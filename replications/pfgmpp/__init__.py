"""PFGM++ (Xu, Liu, Tian, Tong, Tegmark & Jaakkola, ICML 2023) on the shared core: PFGM's augmentation with D extra
dimensions, trained by EDM's denoiser objective with the heavy-tailed kernel p_r(x | y) in place of the Gaussian
(r = sigma sqrt(D)), sampled by EDM's ODE from the kernel's own prior. D = 1 is PFGM's field; D -> inf is EDM."""
