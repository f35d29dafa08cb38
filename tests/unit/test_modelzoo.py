"""The model zoo: every architecture builds, saves without pickle, and loads back to the same predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from services.common import modelzoo as mz
from services.common.errors import InvalidArgument

torch.set_num_threads(1)


def _header(data: bytes) -> dict:
    return json.loads(data[8: 8 + int.from_bytes(data[:8], "little")])


@pytest.mark.parametrize("task,arch,shape,outputs", [
    ("classification", "cnn", [1, 8, 8], 10),
    ("classification", "mlp", [30], 2),
    ("classification", "rnn", [12, 3], 3),
    ("forecasting", "lstm", [24, 1], 2),
    ("regression", "gru", [24], 1),
    ("regression", "transformer", [16, 2], 1),
    ("detection", "cnn", [1, 16, 16], 5),
])
def test_torch_models_round_trip(task, arch, shape, outputs):
    model = mz.build_model(task, arch, {}, shape, outputs).eval()
    x = np.random.default_rng(0).random((6, *shape), dtype=np.float32)
    card = mz.ModelCard(task=task, architecture=arch, params=mz.resolve_params(arch, {}), input_shape=shape,
                        num_outputs=outputs, framework="torch")
    weights = mz.weights_to_bytes(model)
    assert _header(weights)["__metadata__"]["format"] == "torch"  # safetensors
    loaded = mz.load_model(mz.ModelCard.from_json(card.to_json()), weights)
    with torch.no_grad():
        raw = model(torch.from_numpy(x)).numpy()
    assert np.allclose(loaded.raw(x), raw, atol=1e-6)
    pred = loaded.predict(x)
    if task == "classification":
        assert pred.shape == (6, outputs) and np.allclose(pred.sum(1), 1, atol=1e-6)
    elif task == "detection":
        assert pred.shape == (6, outputs) and ((pred[:, :4] >= 0) & (pred[:, :4] <= 1)).all()
    else:
        assert pred.shape == (6, outputs)
    names = [n for n, _ in model.named_parameters()]
    assert names[-1] == "head.bias" and all(n.split(".")[0] in ("features", "neck", "head") for n in names)


@pytest.mark.parametrize("arch", ["tree", "svm"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_sklearn_models_round_trip_without_pickle(arch, task):
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    target = y if task == "classification" else x[:, 0] * 3 + 1
    est = mz.build_model(task, arch, {"max_depth": 4} if arch == "tree" else {"C": 2.0}, [30],
                         2 if task == "classification" else 1)
    est.fit(x.astype(np.float64), target)
    weights = mz.weights_to_bytes(est)
    meta = _header(weights)["__metadata__"]
    assert meta["format"] == "gristmill-sklearn/1" and b"\x80\x04\x95" not in weights  # no pickle opcodes
    card = mz.ModelCard(task=task, architecture=arch, input_shape=[30], num_outputs=2 if task == "classification" else 1,
                        framework="sklearn")
    loaded = mz.load_model(card, weights)
    pred = loaded.predict(x)
    if task == "classification":
        assert pred.shape == (len(x), 2)
        assert (pred.argmax(1) == est.predict(x.astype(np.float64))).all()
    else:
        assert np.allclose(pred[:, 0], est.predict(x.astype(np.float64)))


def test_sklearn_loader_refuses_other_classes():
    from safetensors.numpy import save

    blob = save({"a": np.zeros(2)}, metadata={"format": "gristmill-sklearn/1", "class": "Pipeline", "attrs": "{}"})
    card = mz.ModelCard(task="classification", architecture="tree", input_shape=[2], num_outputs=2, framework="sklearn")
    with pytest.raises(InvalidArgument, match="refusing"):
        mz.load_model(card, blob)


def test_defaults_by_task_and_shape():
    assert mz.default_architecture("classification", [1, 28, 28]) == "cnn"
    assert mz.default_architecture("classification", [30]) == "mlp"
    assert mz.default_architecture("classification", [50, 4]) == "lstm"
    assert mz.default_architecture("forecasting", [24]) == "lstm"
    assert mz.default_architecture("detection", [3, 32, 32]) == "cnn"
    with pytest.raises(InvalidArgument, match="unknown task"):
        mz.default_architecture("ranking", [3])


def test_cnn_is_fully_configurable():
    params = {"channels": [4, 8, 16], "kernel_size": [5, 3, 3], "stride": [1, 1, 2], "padding": ["same", 1, 0],
              "pool": ["max", "avg", "none"], "dropout": 0.3, "hidden": [], "batch_norm": True,
              "global_pool": "avg", "activation": "gelu"}
    model = mz.build_model("classification", "cnn", params, [3, 32, 32], 7)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(4, (5, 5), (1, 1)), (8, (3, 3), (1, 1)),
                                                                          (16, (3, 3), (2, 2))]
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in model.features)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.features)
    assert model.head.in_features == 16 and model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("arch,params,message", [
    ("cnn", {"kernel": 3}, "unknown params"),
    ("cnn", {"channels": []}, "channels"),
    ("cnn", {"channels": [8, 8], "stride": [1]}, "entries"),
    ("cnn", {"pool": "median"}, "pool"),
    ("mlp", {"dropout": 1.5}, "dropout"),
    ("mlp", {"activation": "swish"}, "activation"),
    ("transformer", {"d_model": 30, "nhead": 4}, "divisible"),
    ("lstm", {"hidden_size": 0}, "hidden_size"),
    ("svm", {"kernel": "gaussian"}, "kernel"),
    ("boosting", {}, "unknown architecture"),
])
def test_invalid_params_are_rejected(arch, params, message):
    with pytest.raises(InvalidArgument, match=message):
        mz.resolve_params(arch, params)


def test_shape_mismatches_are_rejected():
    with pytest.raises(InvalidArgument, match="input_shape"):
        mz.build_model("classification", "cnn", {}, [30], 2)
    with pytest.raises(InvalidArgument, match="shrink|fit"):
        mz.build_model("classification", "cnn", {"channels": [4] * 6, "padding": "valid", "kernel_size": 3},
                       [1, 8, 8], 2)
    with pytest.raises(InvalidArgument, match="detection"):
        mz.build_model("detection", "tree", {}, [16], 5)


def test_struct_floats_become_ints():
    p = mz.resolve_params("mlp", {"hidden": [64.0, 32.0]})
    assert p["hidden"] == [64, 32] and all(isinstance(v, int) for v in p["hidden"])
    assert mz.resolve_params("lstm", {"num_layers": 2.0})["num_layers"] == 2


def test_freeze_and_replace_head():
    model = mz.build_model("classification", "mlp", {"hidden": [8]}, [4], 3)
    frozen = mz.freeze(model, ["neck."])
    assert frozen == ["neck.0.bias", "neck.0.weight"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    mz.replace_head(model, 5)
    assert model(torch.zeros(2, 4)).shape == (2, 5)
    with pytest.raises(InvalidArgument, match="matches no parameter"):
        mz.freeze(model, ["encoder."])


def test_weights_must_match_the_card():
    weights = mz.weights_to_bytes(mz.build_model("classification", "mlp", {"hidden": [8]}, [4], 3))
    card = mz.ModelCard(task="classification", architecture="mlp", params={"hidden": [16]}, input_shape=[4],
                        num_outputs=3)
    with pytest.raises(InvalidArgument, match="do not match"):
        mz.load_model(card, weights)


def test_card_json_round_trip_ignores_unknown_keys():
    card = mz.ModelCard(model_version_id="mv-1", project="p", task="regression", architecture="gru",
                        params={"hidden_size": 8}, input_shape=[24, 1], num_outputs=1,
                        training={"target_scaler": {"mean": [10.0], "std": [2.0]}}, metrics={"val_mae": 0.5})
    data = json.loads(card.to_json())
    data["future_field"] = 1
    back = mz.ModelCard.from_json(json.dumps(data))
    assert back == card


def test_regression_predictions_are_in_target_units():
    model = mz.build_model("regression", "mlp", {"hidden": [4]}, [3], 1).eval()
    card = mz.ModelCard(task="regression", architecture="mlp", params=mz.resolve_params("mlp", {"hidden": [4]}),
                        input_shape=[3], num_outputs=1, training={"target_scaler": {"mean": [100.0], "std": [10.0]}})
    loaded = mz.load_model(card, mz.weights_to_bytes(model))
    x = np.ones((2, 3), dtype=np.float32)
    assert np.allclose(loaded.predict(x), loaded.raw(x) * 10.0 + 100.0, atol=1e-5)
    assert loaded.predict(x[0]).shape == (1, 1)  # a single sample gets a batch dimension
    with pytest.raises(InvalidArgument, match="does not match"):
        loaded.predict(np.ones((2, 4), dtype=np.float32))
