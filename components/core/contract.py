"""Names the model servers and the deploy step share (serving/ and components.deploy)."""

SERVERS = ("lstm", "lora", "guard", "caption")
# The guard pipeline's deployment card (run, gate figures, sources and licences) as JSON in the
# guard container's environment: serving.guard shows it at GET /v2/models/guard/info.
DEPLOYMENT_ENV = "TOXIC_FILTER_DEPLOYMENT"
