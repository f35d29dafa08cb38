"""The KServe predictor: one model version with its fitted preprocessing.

Protocols (all answered by the same `predict`): V1 REST (`/v1/models/<name>:predict`), V2 / Open
Inference Protocol REST (`/v2/models/<name>/infer`) and V2 gRPC (`ModelInfer`); KServe supplies the
readiness endpoints and `/metrics`.

Inputs: raw or already preprocessed
-----------------------------------
The model sees what it saw in training because raw inputs go through the version's
`FittedTransform` first. What counts as raw:

* V1 `{"instances": [...]}`: row objects (`{"col": value, ...}`) are raw tabular rows; an image may
  be given as `{"b64": "<base64 PNG/JPEG>"}` (also as a column value); nested numeric lists are a
  tensor (below).
* V2 (REST or gRPC): several inputs, or BYTES inputs, are raw columns named by the input names
  (tabular) or encoded images (an image model's single BYTES input; base64 text over REST JSON,
  raw bytes over gRPC). A single numeric input is a tensor (below).
* A numeric tensor of shape `[N, *model input_shape]` is taken as **already preprocessed** and
  goes to the model as is; any other numeric shape is raw (e.g. `[N, H, W]` uint8 pixels, or
  `[N, k]` values of k numeric columns) and goes through the transform. The one ambiguous case, an
  all-numeric tabular transform whose raw width equals the model width, defaults to **raw**.
  The request parameter `preprocessed` (V1: a top-level key; V2: request or input parameter)
  overrides the default either way.

Anything that does not fit -- wrong datatype, a shape that disagrees with its data, a shape neither
the model nor its transform accepts, missing columns, undecodable images, NaN in a preprocessed
tensor, too many rows -- raises `kserve.errors.InvalidInput`, which KServe answers as HTTP 400
`{"error": "<message>"}` and gRPC `INVALID_ARGUMENT`; no stack trace reaches the client.

Outputs: classification returns `probabilities` (FP32, N x C) and `label` (BYTES, N); other tasks
return `prediction` (FP32, N x K). V1: `{"predictions": [label or value per row],
"probabilities": [...]}`. The request id (V2 `id`, else the `x-request-id` header, else a new
UUID) comes back as the V2 `id` and the `x-request-id` response header, and names the logged rows.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput

from services.serving.inference_log import InferenceLogger, LoggedRequest
from services.serving.loader import ServedVersion

log = logging.getLogger(__name__)

NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "bool_param"):  # gRPC InferParameter
        which = value.WhichOneof("parameter_choice")
        value = getattr(value, which) if which else None
        return None if value is None else _flag(value)
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
    if isinstance(value, int | float):
        return bool(value)
    raise InvalidInput(f"parameter 'preprocessed' must be true or false, got {value!r}")


def _param(params: Any, key: str) -> Any:
    if not params:
        return None
    try:
        return params[key] if key in params else None
    except TypeError:
        return None


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{where}: not valid base64 ({exc})") from None


class GristmillModel(Model):
    """A `kserve.Model` serving one Gristmill model version (see the module docstring)."""

    def __init__(self, name: str, version: ServedVersion, logger: InferenceLogger | None = None,
                 max_batch: int = 4096) -> None:
        super().__init__(name, return_response_headers=True)
        self.version = version
        self.card = version.card
        self.transform = version.transform
        self.loaded = version.model
        self.logger = logger
        self.max_batch = max_batch
        self.input_shape = [int(d) for d in self.card.input_shape]
        self.task = self.card.task
        self.class_names = list(self.card.class_names or (self.transform.class_names if self.transform else []))
        self.ready = True

    # --- KServe hooks ----------------------------------------------------------------------------
    def load(self) -> bool:
        self.ready = True
        return self.ready

    def stop(self) -> None:
        if self.logger is not None:
            self.logger.close()

    def get_input_types(self) -> list[dict]:
        types = [{"name": "input-0", "datatype": "FP32", "shape": [-1, *self.input_shape]}]
        t = self.transform
        if t is not None and t.kind == "tabular":
            types += [{"name": f.name, "datatype": "FP32", "shape": [-1]} for f in t.numeric]
            types += [{"name": c, "datatype": "BYTES", "shape": [-1]}
                      for c in [f.name for f in t.categorical] + list(t.text)]
        elif t is not None and t.image is not None:
            types.append({"name": t.image.column, "datatype": "BYTES", "shape": [-1]})
        return types

    def get_output_types(self) -> list[dict]:
        if self.task == "classification":
            return [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(self.class_names)]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]}]
        return [{"name": "prediction", "datatype": "FP32", "shape": [-1, int(self.card.num_outputs)]}]

    async def predict(self, payload: dict | InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> dict | InferResponse:
        start = time.perf_counter()
        headers = headers or {}
        if isinstance(payload, bytes | bytearray):  # V1 body sent without content-type: application/json
            try:
                payload = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise InvalidInput("the request body is not JSON; send JSON with content-type: application/json") \
                    from None
            if not isinstance(payload, dict):
                raise InvalidInput('V1 requests are JSON objects with an "instances" list')
        if isinstance(payload, InferRequest):
            protocol = "v2-grpc" if payload.from_grpc else "v2-rest"
            request_id = payload.id or headers.get("x-request-id") or str(uuid.uuid4())
            x = self._v2_input(payload)
        elif isinstance(payload, dict):
            protocol = "v1"
            request_id = headers.get("x-request-id") or str(uuid.uuid4())
            x = self._v1_input(payload)
        else:
            raise InvalidInput(f"unsupported request body of type {type(payload).__name__}")
        outputs = self.loaded.predict(x)
        labels = self._labels(outputs)
        if response_headers is not None:
            response_headers["x-request-id"] = request_id
        if isinstance(payload, InferRequest):
            response = self._v2_response(payload, request_id, outputs, labels)
        else:
            response = self._v1_response(outputs, labels)
        if self.logger is not None:
            self.logger.submit(LoggedRequest(request_id, protocol, x, outputs, labels,
                                             (time.perf_counter() - start) * 1000.0,
                                             headers.get("x-correlation-id", "")))
        return response

    # --- inputs --------------------------------------------------------------------------------
    def _v1_input(self, body: dict) -> np.ndarray:
        instances = body.get("instances", body.get("inputs"))
        if not isinstance(instances, list) or not instances:
            raise InvalidInput('V1 requests need a non-empty "instances" list')
        preprocessed = _flag(body.get("preprocessed"))
        if all(isinstance(i, dict) for i in instances):
            if preprocessed:
                raise InvalidInput("preprocessed inputs must be numeric arrays, not row objects")
            return self._raw([self._decode_row(r, i) for i, r in enumerate(instances)], len(instances))
        if any(isinstance(i, dict) for i in instances):
            raise InvalidInput("instances mix row objects and arrays; send one kind")
        if any(isinstance(i, str) for i in instances):
            raise InvalidInput('strings are not model inputs; send images as {"b64": "..."} objects')
        try:
            arr = np.asarray(instances)  # ints stay ints: raw pixels 0..255 differ from floats 0..1
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"instances must be numbers or equally shaped nested lists of numbers ({exc})") \
                from None
        if arr.dtype.kind not in "biuf":
            raise InvalidInput("instances must be numbers or equally shaped nested lists of numbers")
        return self._tensor(arr, preprocessed)

    def _decode_row(self, row: dict, i: int) -> Any:
        if set(row) == {"b64"}:
            return _b64(row["b64"], f"instance {i}")
        return {k: (_b64(v["b64"], f"instance {i}, column {k}") if isinstance(v, dict) and set(v) == {"b64"}
                    else v) for k, v in row.items()}

    def _v2_input(self, req: InferRequest) -> np.ndarray:
        if not req.inputs:
            raise InvalidInput("the request has no inputs")
        preprocessed = _flag(_param(req.parameters, "preprocessed"))
        for inp in req.inputs:
            if inp.datatype not in NUMERIC and inp.datatype != "BYTES":
                raise InvalidInput(f"input {inp.name!r} has datatype {inp.datatype}; expected FP32 (or another "
                                   "numeric type) for tensors, BYTES for strings and encoded images")
            p = _flag(_param(inp.parameters, "preprocessed"))
            preprocessed = p if p is not None else preprocessed
        arrays = {inp.name: self._as_numpy(inp) for inp in req.inputs}
        if len(req.inputs) == 1 and req.inputs[0].datatype in NUMERIC:
            return self._tensor(next(iter(arrays.values())), preprocessed)
        if preprocessed:
            raise InvalidInput("a preprocessed input is one numeric tensor; got "
                               f"{[(i.name, i.datatype) for i in req.inputs]}")
        t = self.transform
        if len(req.inputs) == 1 and t is not None and t.image is not None:
            (name, arr), = arrays.items()
            items = [v if isinstance(v, bytes) else _b64(str(v), f"input {name!r}") for v in arr.reshape(-1)]
            return self._raw(items, len(items))
        n = {len(a) for a in arrays.values()}
        if len(n) != 1:
            raise InvalidInput(f"column inputs must have the same number of rows, got "
                               f"{ {k: len(a) for k, a in arrays.items()} }")
        cols = {}
        for inp in req.inputs:
            a = arrays[inp.name]
            if a.ndim > 1 and int(np.prod(a.shape[1:])) != 1:
                raise InvalidInput(f"column input {inp.name!r} must have shape [N] or [N, 1], got {list(a.shape)}")
            a = a.reshape(len(a))
            if inp.datatype == "BYTES":
                a = np.array([v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in a],
                             dtype=object)
            cols[inp.name] = a
        return self._raw(pd.DataFrame(cols), n.pop())

    @staticmethod
    def _as_numpy(inp) -> np.ndarray:
        shape = list(inp.shape or [])
        if not shape or any(int(d) < 0 for d in shape):
            raise InvalidInput(f"input {inp.name!r} needs a shape of non-negative sizes, got {shape}")
        try:
            arr = inp.as_numpy()
        except InvalidInput:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"input {inp.name!r}: data does not match shape {shape} and datatype "
                               f"{inp.datatype} ({exc})") from None
        if list(arr.shape) != shape:
            raise InvalidInput(f"input {inp.name!r}: data does not match shape {shape}")
        if arr.ndim == 0:
            raise InvalidInput(f"input {inp.name!r} must have a batch dimension")
        return arr

    def _check_rows(self, n: int) -> None:
        if n < 1:
            raise InvalidInput("the request has no rows")
        if n > self.max_batch:
            raise InvalidInput(f"{n} rows exceed the limit of {self.max_batch} per request")

    def _tensor(self, arr: np.ndarray, preprocessed: bool | None) -> np.ndarray:
        if arr.ndim == 0:
            raise InvalidInput("input must have a batch dimension")
        self._check_rows(len(arr))
        row_shape = list(arr.shape[1:])
        t = self.transform
        if preprocessed is None:
            ambiguous = t is not None and t.kind == "tabular" and not t.categorical and not t.text \
                and [len(t.numeric)] == self.input_shape
            preprocessed = t is None or (row_shape == self.input_shape and not ambiguous)
        if preprocessed:
            if row_shape != self.input_shape:
                raise InvalidInput(f"input shape {[-1, *row_shape]} does not match the model input shape "
                                   f"{[-1, *self.input_shape]}"
                                   + ("" if t is None else f"; this model accepts {self._expected()}"))
            x = arr.astype(np.float32, copy=False)
            if not np.isfinite(x).all():
                raise InvalidInput("input contains NaN or infinite values")
            return x
        self._check_raw_tensor(arr)
        return self._raw(arr, len(arr))

    def _expected(self) -> str:
        t = self.transform
        out = f"a preprocessed FP32 tensor {[-1, *self.input_shape]}"
        if t is not None and t.image is not None:
            h, w = t.image.height, t.image.width
            out += (f", raw pixels {[-1, h, w]} or {[-1, h, w, 'C']} (uint8 0..255 or float 0..1), "
                    "or encoded images (BYTES)")
        elif t is not None:
            if not t.categorical and not t.text:
                out += f", raw values {[-1, len(t.numeric)]} of columns {[f.name for f in t.numeric]}"
            out += f", or raw rows with columns {t.input_columns}"
        return out

    def _check_raw_tensor(self, arr: np.ndarray) -> None:
        """Raw numeric tensors must have the batch dimension first and the fitted image size."""
        t = self.transform
        if t is None or t.image is None:
            return
        h, w = t.image.height, t.image.width
        ok = arr.ndim in (3, 4) and tuple(arr.shape[1:3]) == (h, w) and (arr.ndim == 3 or arr.shape[3] in (1, 3, 4))
        if not ok:
            raise InvalidInput(f"input shape {[-1, *arr.shape[1:]]} does not fit this model; expected "
                               f"{self._expected()}")

    def _raw(self, raw: Any, n: int) -> np.ndarray:
        self._check_rows(n)
        t = self.transform
        if t is None:
            raise InvalidInput(f"this model version has no fitted preprocessing; send tensors of shape "
                               f"{[-1, *self.input_shape]}")
        try:
            x = t.apply(raw)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise InvalidInput(f"input does not fit the model's preprocessing: {exc}; this model accepts "
                               f"{self._expected()}") from None
        if list(x.shape) != [n, *self.input_shape]:
            raise InvalidInput(f"preprocessing produced shape {list(x.shape)} from the input, but the model needs "
                               f"{[n, *self.input_shape]}; this model accepts {self._expected()}")
        return x

    # --- outputs -------------------------------------------------------------------------------
    def _labels(self, outputs: np.ndarray) -> list[str]:
        if self.task == "classification":
            idx = outputs.argmax(axis=1)
            names = self.class_names
            return [names[i] if i < len(names) else str(int(i)) for i in idx]
        flat = outputs.reshape(len(outputs), -1)
        return [f"{float(r[0]):.6g}" if r.size == 1 else ",".join(f"{float(v):.6g}" for v in r) for r in flat]

    def _v1_response(self, outputs: np.ndarray, labels: list[str]) -> dict:
        if self.task == "classification":
            return {"predictions": labels, "probabilities": outputs.astype(np.float32).tolist()}
        flat = outputs.reshape(len(outputs), -1)
        preds = flat[:, 0].tolist() if flat.shape[1] == 1 else flat.tolist()
        return {"predictions": preds}

    def _v2_response(self, req: InferRequest, request_id: str, outputs: np.ndarray, labels: list[str]
                     ) -> InferResponse:
        binary = bool(req.use_binary_outputs)
        outs = []
        if self.task == "classification":
            probs = outputs.astype(np.float32)
            o = InferOutput(name="probabilities", shape=list(probs.shape), datatype="FP32")
            o.set_data_from_numpy(probs, binary_data=binary)
            lab = InferOutput(name="label", shape=[len(labels)], datatype="BYTES")
            lab.set_data_from_numpy(np.array(labels, dtype=np.object_), binary_data=binary)
            outs = [o, lab]
        else:
            vals = outputs.reshape(len(outputs), -1).astype(np.float32)
            o = InferOutput(name="prediction", shape=list(vals.shape), datatype="FP32")
            o.set_data_from_numpy(vals, binary_data=binary)
            outs = [o]
        return InferResponse(response_id=request_id, model_name=self.name, infer_outputs=outs,
                             model_version=self.card.model_version_id, from_grpc=req.from_grpc,
                             use_binary_outputs=binary)
