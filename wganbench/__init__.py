"""wganbench: a reproducibility benchmark for GAN training objectives."""

__version__ = "0.1.0"
