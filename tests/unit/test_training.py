"""The training loop: optimizers, schedules, early stopping, losses by task, checkpoints and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from services.common import modelzoo
from services.common.errors import InvalidArgument
from services.training import samples
from services.training.rundir import RunDir
from services.training.trainer import (
    OPTIMIZERS,
    Cancelled,
    Trainer,
    make_optimizer,
    optimizer_state_from_files,
    optimizer_state_to_files,
    resolve_hparams,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    splits, _ = samples.digits(n=500)
    return splits


def fit(splits, arch="mlp", params=None, rundir=None, task="classification", outputs=10, **hp):
    (xt, yt), (xv, yv) = splits["train"], splits["validation"]
    hparams = {"epochs": 3, "learning_rate": 0.01, "batch_size": 32, **hp}
    trainer = Trainer(task, arch, params if params is not None else {"hidden": [16]}, list(xt.shape[1:]), outputs,
                      hparams, rundir=rundir)
    return trainer.fit(xt, yt, xv, yv)


def test_hparam_validation():
    assert resolve_hparams({})["optimizer"] == "adam"
    with pytest.raises(InvalidArgument) as e:
        resolve_hparams({"optimizer": "lion"})
    assert all(name in e.value.message for name in OPTIMIZERS)
    for bad in ({"learning_rate": -1}, {"learning_rate": float("nan")}, {"epochs": 0.5}, {"batch_size": -3},
                {"lr_schedule": "onecycle"}, {"momentum": 1.0}, {"weight_decay": -0.1},
                {"early_stopping_patience": -1}, {"dropout": 0.1}):
        with pytest.raises(InvalidArgument):
            resolve_hparams(bad)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_learns(digits, optimizer):
    lr = {"sgd": 0.1, "adagrad": 0.05, "adadelta": 1.0, "adam": 0.01, "adamw": 0.01}[optimizer]
    result = fit(digits, optimizer=optimizer, learning_rate=lr, momentum=0.9 if optimizer == "sgd" else 0.0, epochs=4)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.9 and losses == sorted(losses, reverse=True), (optimizer, losses)
    assert result.metric_name == "accuracy" and result.history[-1]["val_metric"] > 0.3


def test_sgd_momentum_and_weight_decay_reach_the_optimizer():
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer("sgd", model.parameters(), {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01})
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("schedule", ["none", "step", "cosine"])
def test_lr_schedules(digits, schedule):
    lrs = [h["learning_rate"] for h in fit(digits, lr_schedule=schedule, epochs=6).history]
    if schedule == "none":
        assert len(set(lrs)) == 1
    elif schedule == "step":
        assert lrs[0] == pytest.approx(0.01) and lrs[2] == pytest.approx(0.001) and lrs[4] == pytest.approx(0.0001)
    else:
        assert all(b < a for a, b in zip(lrs, lrs[1:], strict=False))


def test_early_stopping_keeps_the_best_weights(digits):
    # a large learning rate on a big network overfits quickly; patience 2 stops it
    result = fit(digits, params={"hidden": [256, 256], "dropout": 0.0}, epochs=60, learning_rate=0.02,
                 early_stopping_patience=2)
    assert result.stopped_early and len(result.history) < 60
    val = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val)) and len(val) - result.best_epoch == 2


def test_resume_from_checkpoint_equals_an_uninterrupted_run(digits, tmp_path):
    params = {"channels": [4], "hidden": [16], "dropout": 0.2}
    straight = fit(digits, "cnn", params, RunDir((tmp_path / "a").as_uri()), epochs=4, optimizer="adamw",
                   lr_schedule="cosine")
    rd = RunDir((tmp_path / "b").as_uri())
    calls = {"n": 0}

    def stop_after_two_epochs():
        return rd.checkpoint_epoch() >= 2  # a crash right after epoch 2's checkpoint

    (xt, yt), (xv, yv) = digits["train"], digits["validation"]
    hp = {"epochs": 4, "learning_rate": 0.01, "batch_size": 32, "optimizer": "adamw", "lr_schedule": "cosine"}
    with pytest.raises(Cancelled):
        Trainer("classification", "cnn", params, [1, 8, 8], 10, hp, rundir=rd,
                should_stop=lambda: calls.__setitem__("n", calls["n"] + 1) or stop_after_two_epochs()).fit(
            xt, yt, xv, yv)
    assert rd.checkpoint_epoch() == 2 and [e["epoch"] for e in rd.epochs()] == [1, 2]
    resumed = Trainer("classification", "cnn", params, [1, 8, 8], 10, hp, rundir=rd).fit(xt, yt, xv, yv)
    assert resumed.resumed_from == 2
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    a, b = modelzoo.weights_from_bytes(straight.weights), modelzoo.weights_from_bytes(resumed.weights)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # optimizer, schedule and RNG all restored
    assert [h["val_loss"] for h in straight.history] == pytest.approx([h["val_loss"] for h in resumed.history])


def test_checkpoint_files_hold_no_pickle(digits, tmp_path):
    rd = RunDir((tmp_path / "r").as_uri())
    fit(digits, rundir=rd, epochs=2, optimizer="sgd", momentum=0.9)
    pointer = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    files = sorted(p.name for p in (tmp_path / "r" / pointer["dir"]).iterdir())
    assert files == ["best.safetensors", "model.safetensors", "optimizer.safetensors", "state.json"]
    for name in files:
        data = (tmp_path / "r" / pointer["dir"] / name).read_bytes()
        assert not data.startswith(b"\x80") and b"PK\x03\x04" not in data[:4]  # neither pickle nor torch.save zip
    assert len(list((tmp_path / "r").glob("ckpt-*"))) == 1  # older checkpoints are removed


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    tensors, meta = optimizer_state_to_files(opt)
    json.dumps(meta)
    restored = torch.optim.Adam(model.parameters(), lr=0.5)
    restored.load_state_dict(optimizer_state_from_files(tensors, meta))
    assert restored.param_groups[0]["lr"] == 0.1
    assert torch.equal(restored.state[model.weight]["exp_avg"], opt.state[model.weight]["exp_avg"])


def test_regression_uses_standardized_targets(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    y = (x @ np.arange(1, 6, dtype=np.float32) * 20 + 500).reshape(-1, 1).astype(np.float32)
    splits = samples.split(x, y)
    result = fit(splits, task="regression", outputs=1, epochs=30, learning_rate=0.01, params={"hidden": [32]})
    assert result.metric_name == "mae" and result.target_scaler["mean"][0] == pytest.approx(
        splits["train"][1].mean(), rel=1e-5)
    card = modelzoo.ModelCard(task="regression", architecture="mlp", params=modelzoo.resolve_params("mlp", {"hidden": [32]}),
                              input_shape=[5], num_outputs=1, training={"target_scaler": result.target_scaler})
    pred = modelzoo.load_model(card, result.weights).predict(splits["test"][0])
    mae = float(np.abs(pred - splits["test"][1]).mean())
    assert mae < 0.2 * float(np.abs(splits["test"][1] - splits["test"][1].mean()).mean())


def test_detection_learns_boxes():
    splits, _ = samples.boxes(n=400)
    result = fit(splits, "cnn", {"channels": [8, 16], "hidden": [32], "dropout": 0.0}, task="detection", outputs=5,
                 epochs=12, learning_rate=0.005)
    assert result.metric_name == "iou"
    assert result.history[-1]["val_metric"] > result.history[0]["val_metric"]
    assert result.history[-1]["val_metric"] > 0.4


def test_sequence_models_forecast():
    splits, _ = samples.sine_series(n_points=500, window=16)
    for arch in ("rnn", "gru", "transformer"):
        result = fit(splits, arch, {"hidden_size": 16} if arch != "transformer" else {"d_model": 16, "nhead": 2,
                                                                                       "num_layers": 1},
                     task="forecasting", outputs=1, epochs=3, learning_rate=0.01)
        assert result.history[-1]["val_loss"] < result.history[0]["val_loss"] * 1.5, arch


def test_sklearn_models_train_in_one_step(digits):
    splits, _ = samples.breast_cancer()
    for arch in ("tree", "svm"):
        result = fit(splits, arch, {}, outputs=2)
        assert len(result.history) == 1 and result.history[0]["val_metric"] > 0.85, arch


def test_bad_inputs_are_rejected(digits):
    (xt, yt), (xv, yv) = digits["train"], digits["validation"]
    with pytest.raises(InvalidArgument, match="class indices"):
        Trainer("classification", "mlp", {}, [1, 8, 8], 5, {"epochs": 1}).fit(xt, yt, xv, yv)
    with pytest.raises(InvalidArgument, match="empty"):
        Trainer("classification", "mlp", {}, [1, 8, 8], 10, {"epochs": 1}).fit(xt[:0], yt[:0], xv, yv)
    with pytest.raises(InvalidArgument, match="frozen"):
        base = modelzoo.build_model("classification", "mlp", {}, [1, 8, 8], 10)
        card = modelzoo.ModelCard(task="classification", architecture="mlp", params=modelzoo.resolve_params("mlp", {}),
                                  input_shape=[1, 8, 8], num_outputs=10)
        ft = {"card": json.loads(card.to_json()), "weights": modelzoo.weights_to_bytes(base),
              "freeze": ["neck.", "head."]}
        Trainer("classification", "mlp", {}, [1, 8, 8], 10, {"epochs": 1}, finetune=ft).fit(xt, yt, xv, yv)
