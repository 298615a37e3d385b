"""Toxic-prompt filtering: the plain, KFP-agnostic logic of every pipeline step."""

__version__ = "0.1.0"
