"""Deployment: KServe InferenceService specs, canary rollouts, provenance, image names and builds."""
