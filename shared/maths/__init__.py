"""The mathematics: Gaussian paths (``processes``), fields and their conversions, preconditionings, priors, losses,
samplers, ODE integration and likelihoods. It imports nothing from the pipeline, io or reporting, nor yaml or tqdm
(``tests/test_layers.py``): every formula here can be read, tested and reused without the machinery around it."""
