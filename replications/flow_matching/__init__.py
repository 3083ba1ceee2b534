"""Flow matching — Lipman, Chen, Ben-Hamu, Nickel & Le (2023), 'Flow Matching for Generative Modeling', ICLR; and
rectified flow — Liu, Gong & Liu (2023), 'Flow Straight and Fast: Learning to Generate and Transfer Data with
Rectified Flow', ICLR."""
