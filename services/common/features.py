"""The fitted transform: what preprocessing learned on a training split, as JSON, applied the same way
on the training path and in serving, so inference sees exactly what training saw.

    t = FittedTransform.from_json(artifacts.read_bytes(ref.uri, ref.sha256))
    x = t.apply(frame)                 # tabular: DataFrame / list of dicts / dict of raw rows -> float32 (N, D)
    x = t.apply([png_bytes, ...])      # images: encoded bytes, PIL images, uint8 or float arrays -> (N, C, H, W)
    y = t.encode_labels(["cat", ...])  # int64 indices into t.class_names (float32 targets for regression)
    t.input_shape, t.class_names, t.layout

`preprocessing` fits it (services/preprocessing/fit.py) and builds every split through `apply`; the
helpers below (text repair, tokenization, image decoding) are the one implementation of each idea.

Tabular layout: one float32 vector per row, segments in this order: numeric columns (missing filled,
clipped to the IQR bounds, then `x * scale + offset`), categorical columns (one-hot, all zeros for a
category not seen in training; or ordinal, -1 for unseen), text columns (`max_tokens` token ids each:
PAD_ID 0 pads, OOV_ID 1 marks tokens outside the vocabulary, vocabulary word i has id i + 2).
Images: decoded to the fitted mode and size, pixels / 255, then `x * scale[c] + offset[c]` per channel.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MEDIA_TYPE",
    "OOV_ID",
    "PAD_ID",
    "CategoricalFeature",
    "FittedTransform",
    "ImageFeature",
    "NumericFeature",
    "Segment",
    "as_strings",
    "decode_images",
    "probe_images",
    "repair_text",
    "token_ids",
    "tokenize",
]

FORMAT = "gristmill.fitted-transform"
FORMAT_VERSION = 1
MEDIA_TYPE = "application/vnd.gristmill.fitted-transform+json"
PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

# --- text ----------------------------------------------------------------------------------------

# UTF-8 bytes that were decoded as cp1252 / latin-1 ("cafÃ©", "â€™"): a lead byte followed by the
# right number of continuation bytes, each shown as its latin-1 or cp1252 character.
_CP1252_SPECIAL = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0)
                   if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_CONT = r"[\x80-\xbf" + "".join(_CP1252_SPECIAL) + "]"
MOJIBAKE = rf"(?:[\xc2-\xdf]{_CONT}|[\xe0-\xef]{_CONT}{{2}}|[\xf0-\xf4]{_CONT}{{3}})+"
# C0 controls except tab / newline / carriage return, DEL, C1 controls, and the replacement character.
GARBAGE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + "\ufffd" + "]"
TOKEN_SEPARATORS = r"[^\pL\pN_]+"   # RE2: a token is a run of letters, digits and underscores

_MOJIBAKE_RE = re.compile(MOJIBAKE)


def _unmojibake_match(m: re.Match) -> str:
    s = m.group(0)
    try:
        return bytes(_CP1252_SPECIAL.get(ch, ord(ch)) for ch in s).decode("utf-8")
    except UnicodeDecodeError:
        return s


def _unmojibake(s: str) -> str:
    for _ in range(3):  # text that went through the wrong decoding twice
        fixed = _MOJIBAKE_RE.sub(_unmojibake_match, s)
        if fixed == s:
            break
        s = fixed
    return s


def as_strings(values: Any) -> pa.Array:
    """Raw values (Series, array, list, Arrow) as an Arrow string array; nulls stay null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        arr = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        try:
            arr = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: the slow path
            arr = pa.array([None if _is_missing(v) else _text(v) for v in series], pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return pa.array([None if v is None else v.decode("utf-8", errors="replace") for v in arr.to_pylist()],
                        pa.string())
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT


def _text(v: Any) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes | bytearray) else str(v)


def repair_text(values: Any) -> tuple[pa.Array, np.ndarray]:
    """Repair garbled text: mojibake (UTF-8 read as latin-1/cp1252) decoded back, control characters and
    U+FFFD removed. Returns the repaired strings and a mask of the values that changed."""
    arr = as_strings(values)
    flagged = pc.fill_null(pc.match_substring_regex(arr, MOJIBAKE), False)
    out = arr
    if pc.any(flagged).as_py():
        idx = np.flatnonzero(flagged.to_numpy(zero_copy_only=False))
        fixed = pa.array([_unmojibake(v) for v in arr.take(pa.array(idx)).to_pylist()], pa.string())
        out = pc.replace_with_mask(arr, flagged, fixed)
    out = pc.replace_substring_regex(out, GARBAGE, "")
    changed = pc.fill_null(pc.not_equal(out, arr), False).to_numpy(zero_copy_only=False)
    return out, changed


def tokenize(values: Any) -> tuple[np.ndarray, pa.Array]:
    """Lower-cased word tokens of each value: (row index of each token, tokens), in reading order."""
    arr = pc.fill_null(as_strings(values), "")
    lists = pc.split_pattern_regex(pc.utf8_lower(arr), TOKEN_SEPARATORS)
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    keep = pc.not_equal(flat, "")
    return parents.filter(keep).to_numpy().astype(np.int64, copy=False), flat.filter(keep)


def token_ids(values: Any, vocabulary: pa.Array, max_tokens: int) -> np.ndarray:
    """(N, max_tokens) int64 token ids: truncated, padded with PAD_ID, OOV_ID outside the vocabulary."""
    arr = as_strings(values)
    n = len(arr)
    out = np.full((n, max_tokens), PAD_ID, np.int64)
    parents, tokens = tokenize(arr)
    if len(tokens) == 0 or max_tokens == 0:
        return out
    found = pc.fill_null(pc.index_in(tokens, value_set=vocabulary), -1).to_numpy()
    ids = np.where(found >= 0, found.astype(np.int64) + FIRST_WORD_ID, OOV_ID)
    counts = np.bincount(parents, minlength=n)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(parents)) - starts[parents]
    keep = pos < max_tokens
    out[parents[keep], pos[keep]] = ids[keep]
    return out


# --- images --------------------------------------------------------------------------------------

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


_PNG_SIGNATURE = np.frombuffer(b"\x89PNG\r\n\x1a\nxxxxIHDR", np.uint8)
_PNG_SIGNATURE_AT = np.r_[0:8, 12:16]


def probe_images(items: Sequence[Any] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and colour of encoded images without decoding them: (N, 2) [height, width] (-1 when the
    header is unreadable) and a grayscale mask. PNG headers are parsed for the whole column at once;
    other formats (and palette PNGs) go through PIL's header reader."""
    arr = items if isinstance(items, pa.Array) else pa.array(items, pa.binary())
    n = len(arr)
    sizes = np.full((n, 2), -1, np.int64)
    gray = np.zeros(n, bool)
    head = pc.binary_slice(pc.fill_null(arr, b""), 0, 26)
    full = pc.equal(pc.binary_length(head), 26).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(full)
    png = np.zeros(n, bool)
    if len(rows):
        fixed = head.filter(pa.array(full)).cast(pa.binary(26))
        h = np.frombuffer(fixed.buffers()[1], np.uint8, count=len(fixed) * 26, offset=fixed.offset * 26)
        h = h.reshape(-1, 26)
        colour = h[:, 25]
        is_png = (h[:, _PNG_SIGNATURE_AT] == _PNG_SIGNATURE[_PNG_SIGNATURE_AT]).all(axis=1) & (colour != 3)
        be = h[:, 16:24].astype(np.int64)
        width = (be[:, 0] << 24) | (be[:, 1] << 16) | (be[:, 2] << 8) | be[:, 3]
        height = (be[:, 4] << 24) | (be[:, 5] << 16) | (be[:, 6] << 8) | be[:, 7]
        at = rows[is_png]
        sizes[at, 0], sizes[at, 1] = height[is_png], width[is_png]
        gray[at] = np.isin(colour[is_png], (0, 4))            # grayscale, grayscale + alpha
        png[at] = True
    rest = np.flatnonzero(~png & pc.fill_null(pc.greater(pc.binary_length(arr), 0), False).to_numpy(
        zero_copy_only=False))
    for i in rest:                                             # JPEG, palette PNG, anything else PIL reads
        try:
            with Image.open(io.BytesIO(arr[int(i)].as_py())) as im:
                sizes[i] = im.height, im.width
                gray[i] = im.mode in _GRAY_MODES or (im.mode == "P" and _palette_is_gray(im))
        except Exception:  # noqa: BLE001 - any undecodable header is an unreadable image
            continue
    return sizes, gray


def _palette_is_gray(im: Image.Image) -> bool:
    pal = np.frombuffer(bytes(im.getpalette() or b""), np.uint8)
    if pal.size % 3:
        return False
    pal = pal.reshape(-1, 3)
    return bool((pal == pal[:, :1]).all())


def decode_images(items: Sequence[Any], height: int, width: int, channels: int, threads: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Decode encoded images (PNG/JPEG/... bytes) to uint8 (N, H, W, C) in mode L (C=1) or RGB (C=3),
    resized bilinearly when their size differs. Returns the pixels and a mask of the readable ones
    (unreadable or empty entries are left zero)."""
    n = len(items)
    mode = "L" if channels == 1 else "RGB"
    out = np.zeros((n, height, width, channels), np.uint8)
    ok = np.zeros(n, bool)

    def one(i: int) -> None:
        b = items[i]
        if b is None or len(b) == 0:
            return
        try:
            with Image.open(io.BytesIO(b)) as im:
                im.draft(mode, (width, height))  # JPEG: decode at a reduced scale when that is enough
                img = im if im.mode == mode else im.convert(mode)
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.BILINEAR)
                out[i] = np.asarray(img).reshape(height, width, channels)
            ok[i] = True
        except Exception:  # noqa: BLE001 - corrupt, truncated or not an image at all
            return

    def run(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            one(i)

    if threads > 1 and n >= 256:
        bounds = np.linspace(0, n, threads * 4 + 1).astype(int)
        with ThreadPoolExecutor(threads) as pool:  # PIL releases the GIL while it decodes
            list(pool.map(run, bounds[:-1], bounds[1:]))
    else:
        run(0, n)
    return out, ok


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 1) the way PIL converts RGB to L (ITU-R 601-2), exactly for uint8."""
    if rgb.dtype == np.uint8:
        r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]
    return (rgb[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].astype(np.float32)


# --- the transform -------------------------------------------------------------------------------


@dataclass
class Segment:
    """Columns [start, stop) of the feature vector that come from one raw column."""

    name: str
    kind: str          # numeric | one_hot | ordinal | tokens
    start: int
    stop: int


@dataclass
class NumericFeature:
    name: str
    fill: float                    # replaces missing (NaN, None, +-inf) values
    low: float | None = None       # clip bounds (IQR on train); None: unbounded
    high: float | None = None
    scale: float = 1.0             # then x * scale + offset (minmax / standard, fitted on train)
    offset: float = 0.0


@dataclass
class CategoricalFeature:
    name: str
    categories: list[str]          # sorted, as seen in the training split
    fill: str = ""                 # replaces missing values (the training mode)


@dataclass
class ImageFeature:
    column: str
    height: int
    width: int
    channels: int                  # 1 (mode L) or 3 (RGB)
    scale: list[float] = field(default_factory=list)    # per channel, on pixels in [0, 1]
    offset: list[float] = field(default_factory=list)


@dataclass
class FittedTransform:
    kind: str                                  # "tabular" | "image"
    task: str                                  # "classification" | "regression"
    label_column: str
    class_names: list[str]                     # y indexes this list (sorted); empty for regression
    input_shape: list[int]                     # [D] or [C, H, W]
    scaling: str = "none"                      # none | minmax | standard (already folded into scale/offset)
    encoding: str = "one_hot"                  # one_hot | ordinal
    numeric: list[NumericFeature] = field(default_factory=list)
    categorical: list[CategoricalFeature] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    vocabulary: list[str] = field(default_factory=list)
    max_tokens: int = 0
    image: ImageFeature | None = None
    layout: list[Segment] = field(default_factory=list)
    repair_text: bool = True

    # --- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal transforms give equal bytes, so one artifact."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, data: str | bytes) -> FittedTransform:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a fitted transform (format must be {FORMAT!r})")
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"fitted transform version {doc.get('version')!r} is not supported "
                             f"(this code reads version {FORMAT_VERSION})")
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FittedTransform:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in doc.items() if k in names}
        d["numeric"] = [NumericFeature(**f) for f in d.get("numeric", [])]
        d["categorical"] = [CategoricalFeature(**f) for f in d.get("categorical", [])]
        d["layout"] = [Segment(**s) for s in d.get("layout", [])]
        if d.get("image") is not None:
            d["image"] = ImageFeature(**d["image"])
        t = cls(**d)
        t._check()
        return t

    def _check(self) -> None:
        if self.kind not in ("tabular", "image"):
            raise ValueError(f"unknown transform kind {self.kind!r}")
        if self.kind == "image":
            img = self.image
            if img is None:
                raise ValueError("an image transform needs its image parameters")
            if list(self.input_shape) != [img.channels, img.height, img.width] or img.channels not in (1, 3):
                raise ValueError(f"input_shape {self.input_shape} does not match the image parameters")
        if self.kind == "tabular":
            width = self.layout[-1].stop if self.layout else 0
            if list(self.input_shape) != [width]:
                raise ValueError(f"input_shape {self.input_shape} does not match the layout width {width}")

    # --- properties ----------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_columns(self) -> list[str]:
        """The raw columns `apply` reads."""
        if self.image is not None:
            return [self.image.column]
        return [f.name for f in self.numeric] + [f.name for f in self.categorical] + list(self.text)

    # --- labels --------------------------------------------------------------------------------
    def encode_labels(self, values: Any) -> np.ndarray:
        """Raw labels -> int64 class indices (classification) or float32 targets (regression)."""
        if self.task == "regression":
            y = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float32, na_value=np.nan)
            if not np.isfinite(y).all():
                raise ValueError("regression labels must be finite numbers")
            return y
        arr = as_strings(values)
        idx = pc.index_in(arr, value_set=pa.array(self.class_names, pa.string()))
        if idx.null_count:
            bad = sorted(set(arr.filter(pc.is_null(idx)).to_pylist()), key=str)[:10]
            raise ValueError(f"labels not among the classes {self.class_names}: {bad}")
        return idx.to_numpy().astype(np.int64)

    # --- apply ---------------------------------------------------------------------------------
    def apply(self, raw: Any, *, stats: dict[str, int] | None = None) -> np.ndarray:
        """Raw inputs -> float32 model input (N, *input_shape).

        Tabular: a DataFrame of raw rows (extra columns ignored), a list of row dicts, one row dict,
        or, when every feature is numeric, an (N, D) array in `numeric` order.
        Images: encoded bytes, PIL images, uint8 (0..255) or float (0..1) arrays, channels last:
        (H, W), (H, W, C), (N, H, W) or (N, H, W, C); a list of any of these; or a DataFrame with the
        image column. `stats`, when given, counts `missing_imputed` and `outliers_clipped` values.
        """
        if self.kind == "image":
            return self._images(self._pixels(raw))
        return self._tabular(raw, stats)

    # tabular ---------------------------------------------------------------------------------
    def _tabular(self, raw: Any, stats: dict[str, int] | None) -> np.ndarray:
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "biuf":
            return self._numeric_array(raw, stats)
        df = _frame(raw)
        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise ValueError(f"input lacks columns {missing} (expected {self.input_columns})")
        n = len(df)
        out = np.empty((n, self.input_shape[0]), np.float32)
        segs = {s.name: s for s in self.layout}
        if self.numeric:
            k = len(self.numeric)
            self._numeric_into(_numeric_block(df, [f.name for f in self.numeric]), out[:, :k], stats)
        for f in self.categorical:
            seg = segs[f.name]
            arr = self._strings(df[f.name], stats)
            if f.fill:
                arr = pc.fill_null(arr, f.fill)
            codes = pc.fill_null(pc.index_in(arr, value_set=pa.array(f.categories, pa.string())), -1).to_numpy()
            if seg.kind == "ordinal":
                out[:, seg.start] = codes
            else:
                dst = out[:, seg.start:seg.stop]
                dst[...] = 0
                rows = np.flatnonzero(codes >= 0)
                dst[rows, codes[rows]] = 1
        if self.text:
            vocab = pa.array(self.vocabulary, pa.string())
            for name in self.text:
                seg = segs[name]
                arr = pc.fill_null(self._strings(df[name], stats), "")
                out[:, seg.start:seg.stop] = token_ids(arr, vocab, self.max_tokens)
        return out

    def _strings(self, values: Any, stats: dict[str, int] | None) -> pa.Array:
        arr = as_strings(values)
        if stats is not None:
            stats["missing_imputed"] = stats.get("missing_imputed", 0) + arr.null_count
        if self.repair_text:
            arr, _ = repair_text(arr)
        return arr

    def _numeric_array(self, raw: np.ndarray, stats: dict[str, int] | None) -> np.ndarray:
        if self.categorical or self.text:
            raise ValueError("an array input needs a transform whose features are all numeric; pass a DataFrame")
        x = raw[None, :] if raw.ndim == 1 else raw
        if x.ndim != 2 or x.shape[1] != len(self.numeric):
            raise ValueError(f"expected an array of shape (N, {len(self.numeric)}), got {raw.shape}")
        out = np.empty(x.shape, np.float32)
        self._numeric_into(x, out, stats)
        return out

    def _numeric_into(self, block: np.ndarray, dst: np.ndarray, stats: dict[str, int] | None) -> None:
        """Fill, clip and scale `block` (N, k) into `dst`: whole-array passes, no per-row work."""
        feats = self.numeric
        low = np.array([-np.inf if f.low is None else f.low for f in feats], np.float32)
        high = np.array([np.inf if f.high is None else f.high for f in feats], np.float32)
        clip = bool(np.isfinite(low).any() or np.isfinite(high).any())
        if clip:
            if stats is not None:
                stats["outliers_clipped"] = stats.get("outliers_clipped", 0) + int(
                    np.count_nonzero((block < low) | (block > high)))
            np.clip(block, low, high, out=dst, casting="unsafe")
        else:
            np.copyto(dst, block, casting="unsafe")
        # One cheap reduction finds the columns holding NaN or inf; only those are masked.
        for j in np.flatnonzero(~np.isfinite(np.add.reduce(dst, axis=0))):
            bad = ~np.isfinite(dst[:, j])
            if not bad.any():
                continue  # finite values whose sum overflowed
            if stats is not None:
                stats["missing_imputed"] = stats.get("missing_imputed", 0) + int(bad.sum())
            dst[bad, j] = np.clip(np.float32(feats[j].fill), low[j], high[j])
        scale = np.array([f.scale for f in feats], np.float32)
        offset = np.array([f.offset for f in feats], np.float32)
        if (scale != 1).any() or (offset != 0).any():
            np.multiply(dst, scale, out=dst)
            np.add(dst, offset, out=dst)

    # images ----------------------------------------------------------------------------------
    def _pixels(self, raw: Any) -> np.ndarray:
        """Raw images -> (N, H, W, C) uint8 or float32 (0..1) in the fitted size and channels."""
        img = self.image
        assert img is not None
        if isinstance(raw, pd.DataFrame):
            if img.column not in raw.columns:
                raise ValueError(f"input lacks the image column {img.column!r}")
            raw = raw[img.column].tolist()
        if isinstance(raw, bytes | bytearray | memoryview | Image.Image):
            raw = [raw]
        if isinstance(raw, np.ndarray) and raw.dtype != object:
            return self._conform(raw)
        items = list(raw)
        if all(isinstance(b, bytes | bytearray | memoryview) for b in items):
            pixels, ok = decode_images(items, img.height, img.width, img.channels)
            if not ok.all():
                raise ValueError(f"unreadable images at positions {np.flatnonzero(~ok)[:10].tolist()}")
            return pixels
        parts = []
        for i, item in enumerate(items):
            if isinstance(item, bytes | bytearray | memoryview):
                px, ok = decode_images([item], img.height, img.width, img.channels)
                if not ok[0]:
                    raise ValueError(f"unreadable image at position {i}")
                parts.append(px)
            elif isinstance(item, Image.Image):
                parts.append(self._conform(np.asarray(item.convert("L" if img.channels == 1 else "RGB"))))
            else:
                parts.append(self._conform(np.asarray(item)))
        if any(p.dtype != np.uint8 for p in parts):
            parts = [p.astype(np.float32) / 255 if p.dtype == np.uint8 else p for p in parts]
        return np.concatenate(parts) if parts else np.zeros((0, img.height, img.width, img.channels), np.uint8)

    def _conform(self, a: np.ndarray) -> np.ndarray:
        img = self.image
        assert img is not None
        h, w = img.height, img.width
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        elif a.dtype.kind in "iu" and a.dtype != np.uint8:
            if a.size and (a.min() < 0 or a.max() > 255):
                raise ValueError("integer images must hold values 0..255")
            a = a.astype(np.uint8)
        elif a.dtype.kind == "f":
            a = a.astype(np.float32, copy=False)
        elif a.dtype != np.uint8:
            raise ValueError(f"unsupported image array dtype {a.dtype}")
        if a.ndim == 2:
            a = a[None, :, :, None]
        elif a.ndim == 3:
            single = a.shape[-1] in (1, 3, 4) and a.shape[:2] == (h, w)
            a = a[None] if single else a[..., None]
        elif a.ndim != 4:
            raise ValueError(f"image arrays are (H, W), (H, W, C), (N, H, W) or (N, H, W, C); got {a.shape}")
        c = a.shape[-1]
        if c == 4:
            a = a[..., :3]
        elif c not in (1, 3):
            raise ValueError(f"images have 1, 3 or 4 channels, got {c}")
        if img.channels == 1 and a.shape[-1] == 3:
            a = _luminance(a)
        elif img.channels == 3 and a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        if a.shape[1:3] != (h, w):
            a = np.stack([_resize(im, h, w) for im in a])
        return a

    def _images(self, pixels: np.ndarray) -> np.ndarray:
        img = self.image
        assert img is not None
        scale = np.asarray(img.scale, np.float32)
        if pixels.dtype == np.uint8:
            scale = scale / np.float32(255)
        out = np.empty((len(pixels), img.channels, img.height, img.width), np.float32)
        np.multiply(pixels.transpose(0, 3, 1, 2), scale[:, None, None], out=out)
        np.add(out, np.asarray(img.offset, np.float32)[:, None, None], out=out)
        return out


def _resize(im: np.ndarray, h: int, w: int) -> np.ndarray:
    """One (H, W, C) image to (h, w, C), bilinear as in decoding."""
    if im.dtype == np.uint8:
        mode = "L" if im.shape[-1] == 1 else "RGB"
        return np.asarray(Image.fromarray(im.squeeze(-1) if mode == "L" else im, mode)
                          .resize((w, h), Image.Resampling.BILINEAR)).reshape(h, w, -1)
    chans = [np.asarray(Image.fromarray(im[..., c], "F").resize((w, h), Image.Resampling.BILINEAR))
             for c in range(im.shape[-1])]
    return np.stack(chans, axis=-1)


def _frame(raw: Any) -> pd.DataFrame:
    if isinstance(raw, pd.DataFrame):
        return raw
    if isinstance(raw, pa.Table):
        return raw.to_pandas()
    if isinstance(raw, Mapping):
        scalar = all(not isinstance(v, list | tuple | np.ndarray | pd.Series) for v in raw.values())
        return pd.DataFrame([raw]) if scalar else pd.DataFrame(raw)
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        return pd.DataFrame(list(raw))
    raise ValueError(f"cannot read rows from {type(raw).__name__}; pass a DataFrame or a list of dicts")


def _numeric_block(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    sub = df if list(df.columns) == cols else df[cols]
    if all(isinstance(t, np.dtype) and t.kind in "biuf" for t in sub.dtypes):
        return sub.to_numpy(dtype=np.float32, copy=False)
    conv = {c: pd.to_numeric(sub[c], errors="coerce") for c in cols}
    return pd.DataFrame(conv).to_numpy(dtype=np.float32, na_value=np.nan)
