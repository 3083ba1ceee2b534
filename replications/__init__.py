"""One package per paper; each adds only its objective, network wiring and configs to the shared core."""
