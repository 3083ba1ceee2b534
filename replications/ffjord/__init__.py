"""FFJORD — Grathwohl, Chen, Bettencourt, Sutskever & Duvenaud (2019), 'FFJORD: Free-form Continuous Dynamics for
Scalable Reversible Generative Models', ICLR."""
