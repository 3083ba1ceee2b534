"""Score-SDE — Song, Sohl-Dickstein, Kingma, Kumar, Ermon & Poole (2021), 'Score-Based Generative Modeling through
Stochastic Differential Equations', ICLR."""
