"""Tabular lifecycle: breast cancer -> an MLP trained on FeaturesReady, then a decision tree -> evaluation
and the promotion gate.

    python examples/tabular_lifecycle.py [--executor kfp-local|inline] [--kafka HOST:PORT]

1. The project's training policy says: train an MLP whenever features are ready; its gate policy
   says: F1 (macro) on the test split must reach 0.9 and beat the live model.
2. A feature set (standardized breast_cancer, train/validation/test NPZ) is announced with
   FeaturesReady on Kafka, exactly as the preprocessing service does.
3. Training trains the MLP (through the Kubeflow Pipelines local runner by default) and emits
   ModelTrained; evaluation evaluates it automatically (metrics, diagnosis, gate) and emits
   ModelEvaluated.
4. A decision tree is submitted over gRPC for the same feature set; its gate compares it with
   the MLP, the last model that passed.
Exit status 0 when the MLP passes its gate.
"""

from __future__ import annotations

from lifecycle_kit import Platform, describe, parse_args

from gristmill.evaluation.v1 import evaluation_pb2 as epb
from gristmill.training.v1 import training_pb2 as tpb
from services.training import samples


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    platform = Platform(args, project="breast-cancer")
    try:
        mlp = tpb.ModelSpec(architecture="mlp")
        mlp.params.update({"hidden": [32, 16], "dropout": 0.1})
        platform.t.PutTrainingPolicy(tpb.PutTrainingPolicyRequest(policy=tpb.TrainingPolicy(
            project=platform.project, auto_train=True, model=mlp,
            params=tpb.TrainingParams(epochs=40, learning_rate=0.003, batch_size=32, optimizer="adamw",
                                      weight_decay=1e-4, early_stopping_patience=5, lr_schedule="cosine", seed=1))))
        platform.e.PutGatePolicy(epb.PutGatePolicyRequest(policy=epb.GatePolicy(
            project=platform.project, metric="f1_macro", split="test", threshold=0.9)))

        splits, transform = samples.breast_cancer()
        event = samples.publish(platform.artifacts, platform.project, "classification", splits, num_classes=2,
                                transform=transform)
        platform.publish(event)
        print(f"FeaturesReady {event.feature_set_id}: rows {dict(event.split_rows)}", flush=True)
        [first] = platform.wait_evaluation()
        describe(first, "MLP (trained on FeaturesReady)")

        tree = tpb.ModelSpec(architecture="tree")
        tree.params.update({"max_depth": 4, "min_samples_leaf": 3})
        run = platform.t.SubmitRun(tpb.SubmitRunRequest(spec=tpb.TrainingSpec(
            project=platform.project, feature_set_id=event.feature_set_id, model=tree,
            params=tpb.TrainingParams(seed=1))))
        done = platform.wait_run(run.run_id)
        [second] = platform.wait_evaluation(done.model_version_id)
        describe(second, "decision tree (submitted over gRPC)")
        print(f"\nresult: MLP {'passed' if first.passed else 'failed'} the gate, tree "
              f"{'passed' if second.passed else 'failed'} against it")
        return 0 if first.passed else 1
    finally:
        platform.close()


if __name__ == "__main__":
    raise SystemExit(main())
