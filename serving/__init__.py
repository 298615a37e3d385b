"""KServe model servers of the toxic-prompt filter: lstm, lora, guard and caption.

Entry points (`python -m serving.<name>`): lstm, lora (classifier.py), guard, caption, launch
(`make serve`). The shared parts: common.py (model base class, CLI; re-exports payloads.py,
request limits and parsing, and model_server.py, kserve's server with our data plane, error
handlers and connections.py's limits), batching.py (micro-batching). The guard: guard.py (model,
CLI), guard_request.py, guard_llama.py, guard_classifier.py, llama_guard.py. The launcher:
launch.py (CLI), launch_plan.py, processes.py, launch_status.py. The console: ui/.
"""
