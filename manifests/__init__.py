"""Kubernetes + KServe manifests and their generator."""
