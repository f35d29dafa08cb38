"""Parsing uploaded bytes into an Arrow table, one function per format.

Every parser raises InvalidArgument with a precise message on malformed input; nothing is stored
until the whole file parsed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from services.common.errors import InvalidArgument

FORMATS = ("csv", "parquet", "jsonl", "image_zip", "npz")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def guess_format(filename: str, head: bytes) -> str:
    """Format from the file name, else from magic bytes."""
    name = filename.lower()
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                        (".zip", "image_zip"), (".npz", "npz")):
        if name.endswith(suffix):
            return fmt
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:4] == b"PK\x03\x04":
        return "npz" if b".npy" in head[:200] else "image_zip"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    if head:
        return "csv"
    raise InvalidArgument("cannot tell the data format of an empty file; set format")


def parse(data: bytes, fmt: str, label_column: str = "") -> pa.Table:
    if not data:
        raise InvalidArgument("the file is empty")
    try:
        table = _PARSERS[fmt](data, label_column)
    except InvalidArgument:
        raise
    except (pa.ArrowInvalid, ValueError, OSError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidArgument(f"not valid {fmt}: {exc}") from exc
    if table.num_rows == 0:
        raise InvalidArgument(f"the {fmt} file has no rows")
    if label_column and label_column not in table.column_names:
        raise InvalidArgument(f"label column {label_column!r} is not among the columns {table.column_names}")
    return table


def _csv(data: bytes, _label: str) -> pa.Table:
    return pacsv.read_csv(io.BytesIO(data))


def _parquet(data: bytes, _label: str) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def _jsonl(data: bytes, _label: str) -> pa.Table:
    return pajson.read_json(io.BytesIO(data))


def check_image(raw: bytes, name: str) -> None:
    """Decode fully: a truncated or corrupt image fails here, not in training."""
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidArgument(f"image {name!r} is unreadable: {exc}") from exc


def _image_zip(data: bytes, _label: str) -> pa.Table:
    images, names, labels = [], [], []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise InvalidArgument(f"zip member {bad!r} is corrupt (CRC mismatch)")
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            path = PurePosixPath(info.filename)
            if info.is_dir() or path.name.startswith(".") or "__MACOSX" in path.parts:
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise InvalidArgument(f"zip member {info.filename!r} is not a PNG or JPEG image")
            raw = zf.read(info)
            check_image(raw, info.filename)
            images.append(raw)
            names.append(info.filename)
            labels.append(path.parent.name if len(path.parts) > 1 else None)
    if not images:
        raise InvalidArgument("the zip archive holds no images")
    columns = {"image": pa.array(images, pa.binary()), "filename": pa.array(names, pa.string())}
    if all(lbl is not None for lbl in labels):  # folder-per-class layout, as torchvision's ImageFolder
        columns["label"] = pa.array(labels, pa.string())
    return pa.table(columns)


def encode_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def images_table(x: np.ndarray, y: np.ndarray | None) -> pa.Table:
    """Images (N, H, W) or (N, H, W, C) as PNG bytes, scaled to uint8 when they are not already."""
    if x.dtype != np.uint8:
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        x = np.zeros_like(x, np.uint8) if hi == lo else np.round((x - lo) / (hi - lo) * 255).astype(np.uint8)
    columns = {"image": pa.array([encode_png(img) for img in x], pa.binary())}
    if y is not None:
        columns["label"] = pa.array([str(v) for v in y.tolist()], pa.string())
    return pa.table(columns)


def _npz(data: bytes, _label: str) -> pa.Table:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # never unpickle uploaded data
        if "x" not in npz.files:
            raise InvalidArgument(f"npz must hold an array 'x'; it holds {npz.files}")
        x = npz["x"]
        y = npz["y"] if "y" in npz.files else None
    if y is not None and len(y) != len(x):
        raise InvalidArgument(f"npz 'y' has {len(y)} rows but 'x' has {len(x)}")
    if x.ndim in (3, 4):
        return images_table(x, y)
    if x.ndim == 2:
        columns = {f"f{i}": x[:, i] for i in range(x.shape[1])}
        if y is not None:
            columns["label"] = y
        return pa.table(columns)
    raise InvalidArgument(f"npz 'x' must be 2-D (tabular) or 3/4-D (images), got shape {x.shape}")


_PARSERS = {"csv": _csv, "parquet": _parquet, "jsonl": _jsonl, "image_zip": _image_zip, "npz": _npz}
