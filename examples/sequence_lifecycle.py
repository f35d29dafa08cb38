"""Sequence lifecycle: a noisy sensor-like series -> a GRU forecaster -> scored by MAE against the naive
last-value forecast.

    python examples/sequence_lifecycle.py [--executor kfp-local|inline] [--kafka HOST:PORT]

The series (two sines + noise) is cut into 24-step windows whose target is the next value,
split chronologically. The naive forecast repeats the last value of each window; the project's
gate demands a test MAE below the naive one, so a model that learned nothing cannot pass.
Exit status 0 when the GRU beats the naive baseline.
"""

from __future__ import annotations

import numpy as np
from lifecycle_kit import Platform, describe, parse_args

from gristmill.evaluation.v1 import evaluation_pb2 as epb
from gristmill.training.v1 import training_pb2 as tpb
from services.training import samples


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    platform = Platform(args, project="sensor-forecast")
    try:
        splits, transform = samples.sine_series(n_points=1600, window=24, horizon=1, noise=0.1)
        x_test, y_test = splits["test"]
        naive_mae = float(np.abs(x_test[:, -1, 0] - y_test[:, 0]).mean())

        gru = tpb.ModelSpec(architecture="gru")
        gru.params.update({"hidden_size": 32, "num_layers": 1})
        platform.t.PutTrainingPolicy(tpb.PutTrainingPolicyRequest(policy=tpb.TrainingPolicy(
            project=platform.project, auto_train=True, model=gru,
            params=tpb.TrainingParams(epochs=25, learning_rate=0.005, batch_size=32, optimizer="adam",
                                      early_stopping_patience=5, seed=1))))
        platform.e.PutGatePolicy(epb.PutGatePolicyRequest(policy=epb.GatePolicy(
            project=platform.project, metric="mae", split="test", direction="minimize", threshold=naive_mae)))

        event = samples.publish(platform.artifacts, platform.project, "forecasting", splits, transform=transform)
        platform.publish(event)
        print(f"FeaturesReady {event.feature_set_id}: rows {dict(event.split_rows)}", flush=True)
        [evaluation] = platform.wait_evaluation()
        describe(evaluation, "GRU forecaster")
        model_mae = {s.split: s for s in evaluation.splits}["test"].metrics["mae"]
        print(f"\nresult: test MAE {model_mae:.4f} vs naive last-value MAE {naive_mae:.4f} "
              f"(ratio {model_mae / naive_mae:.3f}); gate {'PASS' if evaluation.passed else 'FAIL'}")
        return 0 if model_mae < naive_mae and evaluation.passed else 1
    finally:
        platform.close()


if __name__ == "__main__":
    raise SystemExit(main())
