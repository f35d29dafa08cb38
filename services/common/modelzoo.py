"""The model zoo: build, save and load every model Gristmill trains.

Training builds models here, serving and evaluation load them from here, so a model version is
fully described by its `ModelCard` (JSON) plus its weights bytes:

* torch models (cnn, mlp, rnn, lstm, gru, transformer): weights are a safetensors `state_dict`;
  `build_model(card...)` rebuilds the module and `load_state_dict` restores it.
* scikit-learn models (tree, svm): the fitted estimator's arrays go into safetensors and its
  scalar attributes into the safetensors metadata as JSON; loading reconstructs only the
  whitelisted estimator classes. Nothing is ever pickled.

Shapes (`input_shape` excludes the batch dimension):
* images `[C, H, W]` (cnn), sequences `[T, F]` or `[T]` (rnn, lstm, gru, transformer),
  tabular `[F]` (mlp, tree, svm; any shape is flattened for these).
* `num_outputs`: classification = number of classes; regression = target width (usually 1);
  forecasting = horizon; detection = 4 box coordinates (x1, y1, x2, y2 in [0, 1]) + number of
  classes (at least 1).

Torch parameter names share three prefixes so fine-tuning can address them: `features.`
(convolutions, recurrent layers or encoder), `neck.` (dense hidden layers) and `head.` (the final
linear layer). `replace_head` swaps `head` for a fresh layer; `freeze` stops gradients by prefix.

`LoadedModel.predict(x)` returns class probabilities (N x C) for classification, values
(N x num_outputs) for regression and forecasting (in target units: a target scaler recorded in
`card.training["target_scaler"]` is undone), and for detection N x (4 + C): boxes in [0, 1]
followed by class probabilities.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.common.errors import InvalidArgument

__all__ = [
    "ARCHITECTURES", "SKLEARN_ARCHITECTURES", "TASKS", "TORCH_ARCHITECTURES", "LoadedModel", "ModelCard",
    "build_model", "default_architecture", "default_params", "freeze", "is_torch", "load_model",
    "load_state", "replace_head", "resolve_params", "weights_from_bytes", "weights_to_bytes",
]

TASKS = ("classification", "regression", "detection", "forecasting")
TORCH_ARCHITECTURES = ("cnn", "mlp", "rnn", "lstm", "gru", "transformer")
SKLEARN_ARCHITECTURES = ("tree", "svm")
ARCHITECTURES = TORCH_ARCHITECTURES + SKLEARN_ARCHITECTURES
SEQUENCE_ARCHITECTURES = ("rnn", "lstm", "gru", "transformer")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": [64, 32], "dropout": 0.1, "activation": "relu", "batch_norm": False},
    "cnn": {
        "channels": [16, 32],        # one conv block per entry
        "kernel_size": 3,            # int, or one per block
        "stride": 1,                 # int, or one per block
        "padding": "same",           # "same" (kernel // 2), "valid" (0), an int, or one per block
        "pool": "max",               # max | avg | none, or one per block
        "pool_size": 2,
        "batch_norm": False,
        "activation": "relu",
        "global_pool": "none",       # none | avg | max: pooling before the dense layers
        "hidden": [64],
        "dropout": 0.25,
    },
    "rnn": {"hidden_size": 64, "num_layers": 1, "dropout": 0.0, "bidirectional": False, "pool": "last",
            "hidden": [], "head_dropout": 0.0},
    "transformer": {"d_model": 32, "nhead": 4, "num_layers": 2, "dim_feedforward": 64, "dropout": 0.1,
                    "pool": "mean", "hidden": [], "head_dropout": 0.0},
    "tree": {"max_depth": 8, "min_samples_split": 2, "min_samples_leaf": 1, "criterion": "",
             "max_features": None, "ccp_alpha": 0.0, "random_state": 0},
    "svm": {"C": 1.0, "kernel": "rbf", "gamma": "scale", "degree": 3, "epsilon": 0.1, "class_weight": None},
}
_DEFAULTS["lstm"] = _DEFAULTS["rnn"]
_DEFAULTS["gru"] = _DEFAULTS["rnn"]

_ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu", "elu")


# --------------------------------------------------------------------------------------------
# Model card
# --------------------------------------------------------------------------------------------
@dataclass
class ModelCard:
    """Everything needed to rebuild, judge and trace a model version. Stored as JSON."""

    model_version_id: str = ""
    project: str = ""
    task: str = "classification"  # classification | regression | detection | forecasting
    architecture: str = ""
    params: dict = field(default_factory=dict)          # resolved architecture knobs
    input_shape: list[int] = field(default_factory=list)
    num_outputs: int = 0
    class_names: list[str] = field(default_factory=list)
    framework: str = "torch"  # torch | sklearn
    optimizer: dict = field(default_factory=dict)       # name, learning_rate, momentum, weight_decay ...
    training: dict = field(default_factory=dict)        # epochs, batch_size, schedule, seed, history, data ...
    feature_set_id: str = ""
    dataset_version_id: str = ""
    run_id: str = ""
    metrics: dict = field(default_factory=dict)
    weights_uri: str = ""
    weights_sha256: str = ""
    transform_uri: str = ""
    transform_sha256: str = ""
    created_at: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCard:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise InvalidArgument("model card JSON must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        card = cls(**{k: v for k, v in data.items() if k in known})
        card.input_shape = [int(v) for v in card.input_shape]
        card.num_outputs = int(card.num_outputs)
        return card


# --------------------------------------------------------------------------------------------
# Choosing and validating architectures
# --------------------------------------------------------------------------------------------
def is_torch(architecture: str) -> bool:
    return architecture in TORCH_ARCHITECTURES


def default_architecture(task: str, input_shape: list[int]) -> str:
    """cnn for images [C, H, W], lstm for sequences [T, F] and forecasting, mlp for tabular [F]."""
    _check_task(task)
    rank = len(input_shape)
    if task == "forecasting":
        return "lstm" if rank <= 2 else "cnn"
    if rank >= 3:
        return "cnn"
    if rank == 2:
        return "lstm"
    return "mlp"


def default_params(architecture: str) -> dict[str, Any]:
    _check_architecture(architecture)
    return copy.deepcopy(_DEFAULTS[architecture])


def resolve_params(architecture: str, params: dict | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; unknown keys raise InvalidArgument naming the valid ones."""
    resolved = default_params(architecture)
    params = dict(params or {})
    unknown = sorted(set(params) - set(resolved))
    if unknown:
        raise InvalidArgument(f"unknown params {unknown} for architecture {architecture!r}; "
                              f"valid: {sorted(resolved)}")
    for k, v in params.items():
        if isinstance(v, float) and v.is_integer() and isinstance(resolved[k], int) \
                and not isinstance(resolved[k], bool):
            v = int(v)  # protobuf Struct turns ints into floats
        if isinstance(v, list):
            v = [int(x) if isinstance(x, float) and x.is_integer() else x for x in v]
        resolved[k] = v
    _validate(architecture, resolved)
    return resolved


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise InvalidArgument(f"unknown task {task!r}; valid: {list(TASKS)}")


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise InvalidArgument(f"unknown architecture {architecture!r}; valid: {list(ARCHITECTURES)}")


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v or v < 1:
        raise InvalidArgument(f"param {name} must be a positive integer, got {v!r}")
    return int(v)


def _rate(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
        raise InvalidArgument(f"param {name} must be in [0, 1), got {v!r}")
    return float(v)


def _int_list(name: str, v: Any, allow_empty: bool = True) -> list[int]:
    if not isinstance(v, list) or (not allow_empty and not v):
        raise InvalidArgument(f"param {name} must be a list of positive integers, got {v!r}")
    return [_positive_int(name, x) for x in v]


def _validate(arch: str, p: dict[str, Any]) -> None:
    if arch in TORCH_ARCHITECTURES:
        p["hidden"] = _int_list("hidden", p["hidden"])
    if arch == "mlp":
        _rate("dropout", p["dropout"])
        if p["activation"] not in _ACTIVATIONS:
            raise InvalidArgument(f"unknown activation {p['activation']!r}; valid: {list(_ACTIVATIONS)}")
    elif arch == "cnn":
        p["channels"] = _int_list("channels", p["channels"], allow_empty=False)
        n = len(p["channels"])
        for key in ("kernel_size", "stride", "padding", "pool"):
            if isinstance(p[key], list) and len(p[key]) != n:
                raise InvalidArgument(f"param {key} has {len(p[key])} entries but channels has {n}")
        for k in _per_layer(p["kernel_size"], n):
            _positive_int("kernel_size", k)
        for s in _per_layer(p["stride"], n):
            _positive_int("stride", s)
        for pad in _per_layer(p["padding"], n):
            if pad not in ("same", "valid") and (isinstance(pad, bool) or not isinstance(pad, int) or pad < 0):
                raise InvalidArgument(f"param padding must be 'same', 'valid' or an int >= 0, got {pad!r}")
        for pool in _per_layer(p["pool"], n):
            if pool not in ("max", "avg", "none"):
                raise InvalidArgument(f"param pool must be max, avg or none, got {pool!r}")
        _positive_int("pool_size", p["pool_size"])
        if p["global_pool"] not in ("none", "avg", "max"):
            raise InvalidArgument(f"param global_pool must be none, avg or max, got {p['global_pool']!r}")
        if p["activation"] not in _ACTIVATIONS:
            raise InvalidArgument(f"unknown activation {p['activation']!r}; valid: {list(_ACTIVATIONS)}")
        _rate("dropout", p["dropout"])
    elif arch in ("rnn", "lstm", "gru"):
        _positive_int("hidden_size", p["hidden_size"])
        _positive_int("num_layers", p["num_layers"])
        _rate("dropout", p["dropout"])
        _rate("head_dropout", p["head_dropout"])
        if p["pool"] not in ("last", "mean"):
            raise InvalidArgument(f"param pool must be last or mean, got {p['pool']!r}")
    elif arch == "transformer":
        for k in ("d_model", "nhead", "num_layers", "dim_feedforward"):
            _positive_int(k, p[k])
        if p["d_model"] % p["nhead"]:
            raise InvalidArgument(f"d_model ({p['d_model']}) must be divisible by nhead ({p['nhead']})")
        _rate("dropout", p["dropout"])
        _rate("head_dropout", p["head_dropout"])
        if p["pool"] not in ("last", "mean"):
            raise InvalidArgument(f"param pool must be last or mean, got {p['pool']!r}")
    elif arch == "tree":
        if p["max_depth"] is not None:
            _positive_int("max_depth", p["max_depth"])
        _positive_int("min_samples_split", p["min_samples_split"])
        _positive_int("min_samples_leaf", p["min_samples_leaf"])
    elif arch == "svm":
        if not isinstance(p["C"], int | float) or p["C"] <= 0:
            raise InvalidArgument(f"param C must be > 0, got {p['C']!r}")
        if p["kernel"] not in ("linear", "poly", "rbf", "sigmoid"):
            raise InvalidArgument(f"param kernel must be linear, poly, rbf or sigmoid, got {p['kernel']!r}")


def _per_layer(value: Any, n: int) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] * n


def _check_shape(task: str, architecture: str, input_shape: list[int], num_outputs: int) -> None:
    _check_task(task)
    _check_architecture(architecture)
    if not input_shape or any(int(d) < 1 for d in input_shape):
        raise InvalidArgument(f"input_shape must be non-empty and positive, got {input_shape}")
    if num_outputs < 1:
        raise InvalidArgument(f"num_outputs must be >= 1, got {num_outputs}")
    if architecture == "cnn" and len(input_shape) != 3:
        raise InvalidArgument(f"cnn needs input_shape [C, H, W], got {input_shape}")
    if architecture in SEQUENCE_ARCHITECTURES and len(input_shape) not in (1, 2):
        raise InvalidArgument(f"{architecture} needs input_shape [T, F] or [T], got {input_shape}")
    if task == "detection" and num_outputs < 5:
        raise InvalidArgument("detection needs num_outputs = 4 box coordinates + at least 1 class")
    if architecture in SKLEARN_ARCHITECTURES and task == "detection":
        raise InvalidArgument(f"{architecture} does not support detection; use cnn or mlp")
    if architecture == "svm" and task != "classification" and num_outputs != 1:
        raise InvalidArgument("svm regression predicts one value; use num_outputs=1 or another architecture")


# --------------------------------------------------------------------------------------------
# Torch modules
# --------------------------------------------------------------------------------------------
def _torch():
    import torch  # imported lazily: sklearn-only callers need not pay for it

    return torch


def _activation(name: str):
    nn = _torch().nn
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}[name]()


def _dense(in_features: int, hidden: list[int], dropout: float, activation: str = "relu",
           batch_norm: bool = False):
    nn = _torch().nn
    layers: list[Any] = []
    for h in hidden:
        layers.append(nn.Linear(in_features, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_features = h
    return nn.Sequential(*layers), in_features


def _make_zoo_net():
    torch = _torch()
    nn = torch.nn

    class ZooNet(nn.Module):
        """features -> (flatten / pool) -> neck -> head. Subclasses define `embed(x)`."""

        def forward(self, x):
            return self.head(self.neck(self.embed(x)))

    class MLP(ZooNet):
        def __init__(self, input_shape, num_outputs, p):
            super().__init__()
            n_in = int(np.prod(input_shape))
            self.features = nn.Flatten()
            self.neck, width = _dense(n_in, p["hidden"], p["dropout"], p["activation"], p["batch_norm"])
            self.head = nn.Linear(width, num_outputs)

        def embed(self, x):
            return self.features(x)

    class CNN(ZooNet):
        def __init__(self, input_shape, num_outputs, p):
            super().__init__()
            c_in = int(input_shape[0])
            n = len(p["channels"])
            blocks: list[Any] = []
            for i, c_out in enumerate(p["channels"]):
                k = _per_layer(p["kernel_size"], n)[i]
                s = _per_layer(p["stride"], n)[i]
                pad = _per_layer(p["padding"], n)[i]
                pad = k // 2 if pad == "same" else 0 if pad == "valid" else int(pad)
                blocks.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=pad))
                if p["batch_norm"]:
                    blocks.append(nn.BatchNorm2d(c_out))
                blocks.append(_activation(p["activation"]))
                pool = _per_layer(p["pool"], n)[i]
                if pool != "none":
                    cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
                    blocks.append(cls(p["pool_size"], ceil_mode=True))
                c_in = c_out
            self.features = nn.Sequential(*blocks)
            self.global_pool = {"none": nn.Identity(), "avg": nn.AdaptiveAvgPool2d(1),
                                "max": nn.AdaptiveMaxPool2d(1)}[p["global_pool"]]
            with torch.no_grad():
                try:
                    out = self.global_pool(self.features(torch.zeros(1, *[int(d) for d in input_shape])))
                except RuntimeError as exc:
                    raise InvalidArgument(f"cnn layers do not fit input_shape {list(input_shape)}: {exc}") from exc
            if out.numel() == 0:
                raise InvalidArgument(f"cnn layers shrink input_shape {list(input_shape)} to nothing")
            self.neck, width = _dense(out.numel(), p["hidden"], p["dropout"], p["activation"])
            self.head = nn.Linear(width, num_outputs)

        def embed(self, x):
            return torch.flatten(self.global_pool(self.features(x)), 1)

    class Recurrent(ZooNet):
        def __init__(self, kind, input_shape, num_outputs, p):
            super().__init__()
            n_feat = int(input_shape[1]) if len(input_shape) == 2 else 1
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
            self.features = cls(n_feat, p["hidden_size"], num_layers=p["num_layers"], batch_first=True,
                                dropout=p["dropout"] if p["num_layers"] > 1 else 0.0,
                                bidirectional=bool(p["bidirectional"]))
            self.pool = p["pool"]
            width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
            self.neck, width = _dense(width, p["hidden"], p["head_dropout"])
            self.head = nn.Linear(width, num_outputs)

        def embed(self, x):
            if x.dim() == 2:
                x = x.unsqueeze(-1)
            out, _ = self.features(x)
            return out.mean(dim=1) if self.pool == "mean" else out[:, -1]

    class Encoder(nn.Module):
        """Input projection + learned positions + transformer encoder layers."""

        def __init__(self, seq_len, n_feat, p):
            super().__init__()
            self.proj = nn.Linear(n_feat, p["d_model"])
            self.pos = nn.Parameter(torch.zeros(1, seq_len, p["d_model"]))
            nn.init.normal_(self.pos, std=0.02)
            layer = nn.TransformerEncoderLayer(p["d_model"], p["nhead"], p["dim_feedforward"], p["dropout"],
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, p["num_layers"], enable_nested_tensor=False)

        def forward(self, x):
            return self.encoder(self.proj(x) + self.pos[:, : x.shape[1]])

    class Transformer(ZooNet):
        def __init__(self, input_shape, num_outputs, p):
            super().__init__()
            n_feat = int(input_shape[1]) if len(input_shape) == 2 else 1
            self.features = Encoder(int(input_shape[0]), n_feat, p)
            self.pool = p["pool"]
            self.neck, width = _dense(p["d_model"], p["hidden"], p["head_dropout"])
            self.head = nn.Linear(width, num_outputs)

        def embed(self, x):
            if x.dim() == 2:
                x = x.unsqueeze(-1)
            h = self.features(x)
            return h.mean(dim=1) if self.pool == "mean" else h[:, -1]

    return MLP, CNN, Recurrent, Transformer


_NETS: tuple | None = None


def _nets():
    global _NETS
    if _NETS is None:
        _NETS = _make_zoo_net()
    return _NETS


def _build_sklearn(task: str, architecture: str, p: dict[str, Any]):
    if architecture == "tree":
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
        kw = {k: p[k] for k in ("max_depth", "min_samples_split", "min_samples_leaf", "max_features",
                                "ccp_alpha", "random_state")}
        if p["criterion"]:
            kw["criterion"] = p["criterion"]
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid tree params: {exc}") from exc
    from sklearn.svm import SVC, SVR

    common = {"C": float(p["C"]), "kernel": p["kernel"], "gamma": p["gamma"], "degree": int(p["degree"])}
    if task == "classification":
        return SVC(**common, class_weight=p["class_weight"])
    return SVR(**common, epsilon=float(p["epsilon"]))


def build_model(task: str, architecture: str, params: dict, input_shape: list[int], num_outputs: int):
    """A fresh (untrained) torch.nn.Module or scikit-learn estimator. Params are resolved first."""
    architecture = architecture or default_architecture(task, input_shape)
    input_shape = [int(d) for d in input_shape]
    _check_shape(task, architecture, input_shape, int(num_outputs))
    p = resolve_params(architecture, params)
    if architecture in SKLEARN_ARCHITECTURES:
        return _build_sklearn(task, architecture, p)
    mlp, cnn, recurrent, transformer = _nets()
    if architecture == "mlp":
        return mlp(input_shape, int(num_outputs), p)
    if architecture == "cnn":
        return cnn(input_shape, int(num_outputs), p)
    if architecture == "transformer":
        return transformer(input_shape, int(num_outputs), p)
    return recurrent(architecture, input_shape, int(num_outputs), p)


# --------------------------------------------------------------------------------------------
# Fine-tuning helpers
# --------------------------------------------------------------------------------------------
def replace_head(module, num_outputs: int) -> None:
    """Swap the final linear layer for a freshly initialised one with `num_outputs` outputs."""
    nn = _torch().nn
    if not isinstance(getattr(module, "head", None), nn.Linear):
        raise InvalidArgument("this model has no replaceable linear head")
    module.head = nn.Linear(module.head.in_features, int(num_outputs))


def freeze(module, prefixes: list[str]) -> list[str]:
    """Stop gradients for parameters whose name starts with any prefix; returns the frozen names.

    A prefix that matches nothing raises InvalidArgument listing the parameter names, so a typo
    never silently trains everything.
    """
    names = [n for n, _ in module.named_parameters()]
    frozen: list[str] = []
    for prefix in prefixes:
        hits = [n for n in names if n.startswith(prefix)]
        if not hits:
            raise InvalidArgument(f"freeze prefix {prefix!r} matches no parameter; names: {names}")
        frozen.extend(hits)
    frozen_set = set(frozen)
    for n, param in module.named_parameters():
        param.requires_grad_(n not in frozen_set)
    return sorted(frozen_set)


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------
_SK_FORMAT = "gristmill-sklearn/1"
_SK_CLASSES = ("DecisionTreeClassifier", "DecisionTreeRegressor", "SVC", "SVR")


def weights_to_bytes(model) -> bytes:
    """safetensors bytes: a torch state_dict, or a fitted scikit-learn estimator's arrays."""
    if hasattr(model, "state_dict"):
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        return save(state, metadata={"format": "torch"})
    return _sklearn_to_bytes(model)


def weights_from_bytes(data: bytes) -> dict[str, Any]:
    """A torch state_dict from safetensors bytes."""
    from safetensors.torch import load

    return load(data)


def load_state(module, data: bytes) -> None:
    """Load safetensors weights into a module built with the same card; strict about names."""
    try:
        module.load_state_dict(weights_from_bytes(data), strict=True)
    except RuntimeError as exc:
        raise InvalidArgument(f"weights do not match the model: {exc}") from exc


def _sklearn_to_bytes(est) -> bytes:
    from safetensors.numpy import save

    name = type(est).__name__
    if name not in _SK_CLASSES:
        raise InvalidArgument(f"cannot export {name}; supported: {list(_SK_CLASSES)}")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for key, value in vars(est).items():
        if key == "tree_":
            state = value.__getstate__()
            nodes = state["nodes"]
            for fname in nodes.dtype.names:
                arrays[f"tree.nodes.{fname}"] = np.ascontiguousarray(nodes[fname])
            arrays["tree.values"] = np.ascontiguousarray(state["values"])
            n_classes = np.atleast_1d(np.asarray(getattr(est, "n_classes_", [1] * int(est.n_outputs_)),
                                                 dtype=np.intp))
            scalars["__tree__"] = {"max_depth": int(state["max_depth"]), "node_count": int(state["node_count"]),
                                   "n_features": int(est.n_features_in_), "n_classes": n_classes.tolist(),
                                   "n_outputs": int(est.n_outputs_)}
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise InvalidArgument(f"cannot export object array {key} of {name}")
            arrays[f"attr.{key}"] = np.ascontiguousarray(value)
        elif isinstance(value, np.generic):
            scalars[key] = {"__np__": value.dtype.str, "v": value.item()}
        elif isinstance(value, tuple):
            scalars[key] = {"__tuple__": list(value)}
        elif value is None or isinstance(value, bool | int | float | str | list | dict):
            json.dumps(value)  # raises for anything not plain JSON
            scalars[key] = value
        else:
            raise InvalidArgument(f"cannot export attribute {key} ({type(value).__name__}) of {name}")
    if not arrays:
        arrays["__empty__"] = np.zeros(1, dtype=np.uint8)
    meta = {"format": _SK_FORMAT, "class": name, "attrs": json.dumps(scalars)}
    return save(arrays, metadata=meta)


def _sklearn_from_bytes(data: bytes):
    from safetensors.numpy import load

    meta = _safetensors_metadata(data)
    if meta.get("format") != _SK_FORMAT:
        raise InvalidArgument(f"not a {_SK_FORMAT} weights file")
    name = meta["class"]
    if name not in _SK_CLASSES:
        raise InvalidArgument(f"refusing to load estimator class {name!r}")
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = {"DecisionTreeClassifier": DecisionTreeClassifier, "DecisionTreeRegressor": DecisionTreeRegressor,
           "SVC": SVC, "SVR": SVR}[name]
    arrays = load(data)
    scalars = json.loads(meta["attrs"])
    est = cls.__new__(cls)
    state: dict[str, Any] = {}
    for key, value in scalars.items():
        if key == "__tree__":
            continue
        if isinstance(value, dict) and "__np__" in value:
            value = np.dtype(value["__np__"]).type(value["v"])
        elif isinstance(value, dict) and "__tuple__" in value:
            value = tuple(value["__tuple__"])
        state[key] = value
    for key, arr in arrays.items():
        if key.startswith("attr."):
            state[key[5:]] = arr
    if "__tree__" in scalars:
        from sklearn.tree._tree import NODE_DTYPE, Tree

        t = scalars["__tree__"]
        nodes = np.zeros(t["node_count"], dtype=NODE_DTYPE)
        for fname in NODE_DTYPE.names:
            nodes[fname] = arrays[f"tree.nodes.{fname}"]
        tree = Tree(t["n_features"], np.asarray(t["n_classes"], dtype=np.intp), t["n_outputs"])
        tree.__setstate__({"max_depth": t["max_depth"], "node_count": t["node_count"], "nodes": nodes,
                           "values": np.ascontiguousarray(arrays["tree.values"])})
        state["tree_"] = tree
    est.__dict__.update(state)
    return est


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of safetensors bytes (the header is little-endian length + JSON)."""
    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8: 8 + n])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"weights are not safetensors: {exc}") from exc
    return header.get("__metadata__", {}) or {}


# --------------------------------------------------------------------------------------------
# Loading for inference
# --------------------------------------------------------------------------------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class LoadedModel:
    """A model rebuilt from its card and weights, ready for `predict`."""

    def __init__(self, card: ModelCard, model) -> None:
        self.card = card
        self.model = model
        self.framework = card.framework
        scaler = (card.training or {}).get("target_scaler") or {}
        self._y_mean = np.asarray(scaler["mean"], dtype=np.float64) if scaler else None
        self._y_std = np.asarray(scaler["std"], dtype=np.float64) if scaler else None

    @property
    def num_classes(self) -> int:
        c = self.card
        if c.task == "classification":
            return c.num_outputs
        if c.task == "detection":
            return c.num_outputs - 4
        return 0

    def _as_batch(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        shape = list(self.card.input_shape)
        if list(x.shape) == shape:
            x = x[None]
        if list(x.shape[1:]) != shape and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
            x = x.reshape(len(x), *shape)
        if list(x.shape[1:]) != shape:
            raise InvalidArgument(f"input shape {list(x.shape[1:])} does not match the model's {shape}")
        return x

    def raw(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Raw outputs: logits (torch) or decision values / predictions (sklearn)."""
        x = self._as_batch(x)
        if self.framework == "sklearn":
            flat = x.reshape(len(x), -1).astype(np.float64)
            if self.card.task == "classification":
                return np.asarray(self.model.decision_function(flat)) if self.card.architecture == "svm" \
                    else self.model.predict_proba(flat)
            return np.asarray(self.model.predict(flat), dtype=np.float64).reshape(len(x), -1)
        torch = _torch()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                outs.append(self.model(torch.from_numpy(x[i: i + batch_size])).float().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, self.card.num_outputs), dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        task = self.card.task
        out = self.raw(x)
        if task == "classification":
            return self._probabilities(out)
        if task == "detection":
            boxes = 1.0 / (1.0 + np.exp(-out[:, :4]))
            return np.concatenate([boxes, _softmax(out[:, 4:])], axis=1)
        out = out.reshape(len(out), -1).astype(np.float64)
        if self._y_mean is not None:
            out = out * self._y_std + self._y_mean
        return out

    def _probabilities(self, out: np.ndarray) -> np.ndarray:
        c = self.card.num_outputs
        if self.framework == "torch":
            return _softmax(out.astype(np.float64))
        classes = np.asarray(self.model.classes_).astype(int)
        if self.card.architecture == "svm":
            # decision values -> scores (SVC is not calibrated; these rank like probabilities)
            out = np.asarray(out, dtype=np.float64)
            if out.ndim == 1:
                pos = 1.0 / (1.0 + np.exp(-out))
                out = np.stack([1.0 - pos, pos], axis=1)
            else:
                out = _softmax(out)
        probs = np.zeros((len(out), c), dtype=np.float64)
        probs[:, classes] = out
        return probs

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        return self.predict(x).argmax(axis=1)


def load_model(card: ModelCard, weights: bytes) -> LoadedModel:
    """Rebuild the model the card describes and load `weights` (safetensors bytes) into it."""
    if card.framework == "sklearn" or card.architecture in SKLEARN_ARCHITECTURES:
        est = _sklearn_from_bytes(weights)
        return LoadedModel(card, est)
    module = build_model(card.task, card.architecture, card.params, card.input_shape, card.num_outputs)
    load_state(module, weights)
    module.eval()
    return LoadedModel(card, module)


def dump_card_bytes(card: ModelCard) -> bytes:
    return card.to_json().encode()


def load_card_bytes(data: bytes) -> ModelCard:
    return ModelCard.from_json(data.decode())


def npz_load(data: bytes) -> dict[str, np.ndarray]:
    """Arrays of an NPZ artifact, never unpickling."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def count_params(module) -> int:
    return int(sum(math.prod(p.shape) for p in module.parameters()))
