"""The pipelines' KFP side (pipeline.py declares the pipelines and calls `cli.main`).

- steps_data.py, steps_train.py, steps_deploy.py: the steps as KFP components. Thin declarations
  around the logic in the stage packages of components/: each imports what it needs INSIDE its body (KFP ships only the
  function source to the container, where the project image has the package installed; locally
  the dev venv has it through `pip install -e .`). The parameters carry no defaults: the pipelines
  fill them from the step dataclasses (components/pipelines/params.py); their docstrings are the meanings
  in docs/pipeline.md's parameter table.
- kfp_io.py: what every step does around its logic (logging, a temporary output directory,
  publishing files, records, metrics and metadata), written once; imported in the containers.
- spec.py: a pipeline's defaults, its parameter prefixes and its entry (PipelineSpec).
- resources.py: the steps' requests and limits, lora-train's GPU placement.
- cli.py, runners.py: `python pipeline.py ...` and its kfp.local runners (subprocess, Docker).
- table.py: docs/pipeline.md's parameter table (`pipeline.py params`).
"""
