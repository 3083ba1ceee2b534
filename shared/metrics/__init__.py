"""Sample-quality metrics: FID (clean-fid, offline), Fréchet distance in a digits-classifier space, two-sample distances."""
