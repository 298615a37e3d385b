"""Evaluation: the evaluate step, the multilingual probe set, plots."""
