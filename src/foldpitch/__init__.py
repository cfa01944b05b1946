"""foldpitch: self-supervised pitch estimation with a differentiable fold-alignment loss."""

__version__ = "0.1.0"
