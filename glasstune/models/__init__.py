"""Network definitions (torch). Importing this package imports torch: keep it off the CLI's path."""

from glasstune.models.cnn import GlassCNN, conv_output_size, l2_penalty, lab_network

__all__ = ["GlassCNN", "conv_output_size", "l2_penalty", "lab_network"]
