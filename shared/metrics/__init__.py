"""Sample-quality metrics: FID (clean-fid, offline), Fréchet distance in digits-classifier features, two-sample."""
