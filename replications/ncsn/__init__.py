"""NCSN — Song & Ermon (2019), "Generative Modeling by Estimating Gradients of the Data Distribution", NeurIPS."""
