"""Seeded augmentation of the training split.

Images: one random affine map per copy (rotation, horizontal flip, scaling, crop-and-resize) applied
to a whole batch at once with bilinear sampling (edges repeat, as Keras' fill_mode="nearest"). It
works on model inputs (N, C, H, W): sampling is an affine combination of pixels, so it commutes with
the per-channel scaling already applied.

Text: on the raw strings, before the fitted transform: sentences deleted and inserted from other
rows, then words replaced by random vocabulary words. Arrow list kernels, no Python loop over rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.common.features import as_strings
from services.preprocessing.spec import ImageAugmentation, TextAugmentation

SENTENCE_END = r"[.!?;]+\s*|\n+"


def augment_images(x: np.ndarray, cfg: ImageAugmentation, rng: np.random.Generator, copies: int,
                   chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """`copies` augmented versions of each image of x (N, C, H, W). Returns them and their sources."""
    n, c, h, w = x.shape
    src = np.tile(np.arange(n), copies)
    m = len(src)
    r = np.deg2rad(cfg.max_rotation_degrees)
    theta = rng.uniform(-r, r, m) if r else np.zeros(m)
    flip = np.where(rng.random(m) < 0.5, -1.0, 1.0) if cfg.horizontal_flip else np.ones(m)
    scale = rng.uniform(1 - cfg.max_scale, 1 + cfg.max_scale, m) if cfg.max_scale else np.ones(m)
    crop = rng.uniform(0, cfg.max_crop, m) if cfg.max_crop else np.zeros(m)
    # The crop window (a share `crop` of each side removed) sits anywhere the crop leaves room for.
    shift_x = rng.uniform(-0.5, 0.5, m) * crop * w
    shift_y = rng.uniform(-0.5, 0.5, m) * crop * h
    zoom = scale / (1 - crop)

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u0, v0 = xs - (w - 1) / 2, ys - (h - 1) / 2
    out = np.empty((m, c, h, w), np.float32)
    for start in range(0, m, chunk):
        sl = slice(start, min(m, start + chunk))
        b = sl.stop - sl.start

        def col(a: np.ndarray, sl: slice = sl) -> np.ndarray:
            return a[sl].astype(np.float32)[:, None, None]

        cos, sin, z = col(np.cos(theta)), col(np.sin(theta)), col(zoom)
        u = u0[None] * col(flip)                     # output -> source: undo flip, rotation, zoom, crop
        v = np.broadcast_to(v0, (b, h, w))
        sx = (cos * u + sin * v) / z + col(shift_x) + (w - 1) / 2
        sy = (-sin * u + cos * v) / z + col(shift_y) + (h - 1) / 2
        out[sl] = _bilinear(x[src[sl]], sx, sy)
    return out, src


def _bilinear(imgs: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample imgs (B, C, H, W) at (sx, sy) (B, H, W), clamping to the edge."""
    _, _, h, w = imgs.shape
    x0f, y0f = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0f)[..., None], (sy - y0f)[..., None]
    x0 = np.clip(x0f, 0, w - 1).astype(np.intp)
    y0 = np.clip(y0f, 0, h - 1).astype(np.intp)
    x1 = np.clip(x0f + 1, 0, w - 1).astype(np.intp)
    y1 = np.clip(y0f + 1, 0, h - 1).astype(np.intp)
    bi = np.arange(len(imgs))[:, None, None]
    top = imgs[bi, :, y0, x0] * (1 - fx) + imgs[bi, :, y0, x1] * fx     # (B, H, W, C)
    bottom = imgs[bi, :, y1, x0] * (1 - fx) + imgs[bi, :, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).transpose(0, 3, 1, 2)


def _lists(values: pa.Array, parents: np.ndarray, n: int) -> pa.ListArray:
    """Values grouped by sorted parent row into n lists."""
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parents, minlength=n))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def augment_text(values, cfg: TextAugmentation, rng: np.random.Generator, vocabulary: list[str]) -> pa.Array:
    """One augmented version of each text: sentences deleted (each with delete_probability, one always
    kept), a sentence from another row inserted at a random place (with insert_probability), then
    words replaced by random vocabulary words (each with replace_probability)."""
    arr = pc.fill_null(as_strings(values), "")
    n = len(arr)
    lists = pc.split_pattern_regex(arr, SENTENCE_END)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    sentences = flat.filter(pa.array(nonempty))
    parents = pc.list_parent_indices(lists).to_numpy()[nonempty].astype(np.int64)
    counts = np.bincount(parents, minlength=n)
    starts = np.cumsum(counts) - counts
    key = (np.arange(len(parents)) - starts[parents]).astype(np.float64)   # place within the row

    keep = np.ones(len(parents), bool)
    if cfg.delete_probability:
        keep = rng.random(len(parents)) >= cfg.delete_probability
        left = np.bincount(parents[keep], minlength=n)
        keep |= (left[parents] == 0) & (key == 0)                        # never delete every sentence
    out_s, out_p, out_k = sentences.filter(pa.array(keep)), parents[keep], key[keep]

    if cfg.insert_probability and n > 1 and len(parents):
        rows = np.flatnonzero(rng.random(n) < cfg.insert_probability)
        donors = (rows + rng.integers(1, n, len(rows))) % n              # always another row
        has = counts[donors] > 0
        rows, donors = rows[has], donors[has]
        picked = starts[donors] + np.floor(rng.random(len(rows)) * counts[donors]).astype(np.int64)
        where = rng.uniform(-0.5, counts[rows] - 0.5)                  # between any two sentences
        out_s = pa.concat_arrays([out_s, sentences.take(pa.array(picked, pa.int64()))])
        out_p = np.concatenate([out_p, rows])
        out_k = np.concatenate([out_k, where])

    order = np.lexsort((out_k, out_p))
    text = pc.binary_join(_lists(out_s.take(pa.array(order, pa.int64())), out_p[order], n), ". ")

    if cfg.replace_probability and vocabulary:
        words = pc.utf8_split_whitespace(text)
        flat_w = pc.list_flatten(words)
        mask = (rng.random(len(flat_w)) < cfg.replace_probability) & \
            pc.not_equal(flat_w, "").to_numpy(zero_copy_only=False)
        vocab = pa.array(vocabulary, pa.string())
        repl = vocab.take(pa.array(rng.integers(0, len(vocab), int(mask.sum())), pa.int64()))
        flat_w = pc.replace_with_mask(flat_w, pa.array(mask), repl)
        offsets = words.offsets
        text = pc.binary_join(pa.ListArray.from_arrays(pc.subtract(offsets, offsets[0]), flat_w), " ")
    return text
