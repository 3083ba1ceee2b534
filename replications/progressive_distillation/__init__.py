"""Progressive distillation (Salimans & Ho, ICLR 2022) on the shared core: a student learns two DDIM steps of its
teacher in one, and becomes the next round's teacher, halving the sampler's steps each round."""
