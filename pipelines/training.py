"""The Gristmill training pipeline: load features -> train -> (optionally) evaluate.

One definition serves both runtime modes:

* local: `kfp.local.SubprocessRunner(use_venv=False)` runs each step as a subprocess of the
  current Python (see `run_local`); components skip the per-step `pip install kfp`.
* cluster: `build_pipeline(gpu=GpuRequest(...))` adds accelerator type/limit, node selector and
  tolerations to the train step; `pipelines/compile.py` writes the YAML the KFP UI uploads, and
  the training service submits the same package with `kfp.Client(host)`.

The steps are thin: their bodies live in `services.training.steps`, so the image only needs the
gristmill package (which brings kfp, torch and scikit-learn).
"""


import os
from dataclasses import dataclass, field

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

# The cluster image: the services image (docker/services.Dockerfile) holds the gristmill package with
# kfp, torch and scikit-learn; KFP replaces its entrypoint with the component command.
IMAGE = os.environ.get("GRISTMILL_PIPELINE_IMAGE", "gristmill/services:0.1.0")
PIPELINE_NAME = "gristmill-training"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_features(job: str, train: Output[Dataset], validation: Output[Dataset], test: Output[Dataset]) -> str:
    """Fetch the feature set's train/validation/test NPZ splits (checksums verified) and validate them."""
    from services.training.steps import load_features_step

    return load_features_step(job, train.path, validation.path, test.path)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_model(job: str, train: Input[Dataset], validation: Input[Dataset], model: Output[Model],
                metrics: Output[Metrics]) -> str:
    """Train (resuming from the run's last checkpoint), store safetensors weights, report metrics."""
    import json

    from services.training.steps import train_step

    result = train_step(job, train.path, validation.path, model.path)
    for key, value in json.loads(result)["metrics"].items():
        metrics.log_metric(key, value)
    return result


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_model(job: str, train_result: str, model: Input[Model], test: Input[Dataset],
                   metrics: Output[Metrics]) -> str:
    """Score the trained model on the test split."""
    import json

    from services.training.steps import evaluate_step

    result = evaluate_step(job, train_result, model.path, test.path)
    for key, value in json.loads(result).items():
        metrics.log_metric(key, value)
    return result


@dataclass(frozen=True)
class Toleration:
    key: str = "nvidia.com/gpu"
    operator: str = "Exists"     # Exists | Equal
    value: str = ""
    effect: str = "NoSchedule"   # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True)
class GpuRequest:
    """GPU placement for the train step on a cluster."""

    accelerator_type: str = "nvidia.com/gpu"
    count: int = 1
    node_selector: tuple[tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
    tolerations: tuple[Toleration, ...] = field(default_factory=lambda: (Toleration(),))
    cpu_limit: str = ""
    memory_limit: str = ""


def _place_on_gpu(task: dsl.PipelineTask, gpu: GpuRequest) -> None:
    from kfp import kubernetes

    task.set_accelerator_type(gpu.accelerator_type).set_accelerator_limit(gpu.count)
    if gpu.cpu_limit:
        task.set_cpu_limit(gpu.cpu_limit)
    if gpu.memory_limit:
        task.set_memory_limit(gpu.memory_limit)
    for key, value in gpu.node_selector:
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for t in gpu.tolerations:
        kubernetes.add_toleration(task, key=t.key, operator=t.operator, value=t.value or None, effect=t.effect)


def build_pipeline(gpu: GpuRequest | None = None):
    """The training pipeline; with `gpu`, the train step asks for accelerators."""

    @dsl.pipeline(name=PIPELINE_NAME + ("-gpu" if gpu else ""),
                  description="Gristmill: load a feature set, train a model from the zoo, evaluate it.")
    def training_pipeline(job: str, evaluate: bool = True) -> str:
        features = load_features(job=job)
        features.set_caching_options(False)
        trained = train_model(job=job, train=features.outputs["train"],
                              validation=features.outputs["validation"])
        trained.set_caching_options(False)
        if gpu is not None:
            _place_on_gpu(trained, gpu)
        with dsl.If(evaluate == True):  # noqa: E712 - a pipeline condition, not a Python comparison
            scored = evaluate_model(job=job, train_result=trained.outputs["Output"],
                                    model=trained.outputs["model"], test=features.outputs["test"])
            scored.set_caching_options(False)
        return trained.outputs["Output"]

    return training_pipeline


training_pipeline = build_pipeline()
training_pipeline_gpu = build_pipeline(GpuRequest())

# Every pipeline `pipelines/compile.py` writes: file stem -> pipeline.
PIPELINES = {"training": training_pipeline, "training-gpu": training_pipeline_gpu}


def run_local(job: str, pipeline_root: str, evaluate: bool = True) -> str:
    """Run the pipeline with the local SubprocessRunner; returns the train step's result JSON.

    `kfp.local.init` is process-global, so call this once per process (the training service runs
    each pipeline in its own driver process: `python -m pipelines.local_driver`).
    """
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    run = training_pipeline(job=job, evaluate=evaluate)
    return run.output
