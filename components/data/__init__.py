"""Data steps: sources, ingest, preprocess, augment, and the generated and translated prompt sets."""
