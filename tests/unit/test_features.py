"""FittedTransform: JSON round trip, apply on every accepted raw form, and the shared text/image helpers."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from services.common.features import (
    OOV_ID,
    PAD_ID,
    CategoricalFeature,
    FittedTransform,
    ImageFeature,
    NumericFeature,
    Segment,
    decode_images,
    probe_images,
    repair_text,
    token_ids,
)


def tabular(encoding: str = "one_hot") -> FittedTransform:
    width = 3 if encoding == "one_hot" else 1
    return FittedTransform(
        kind="tabular", task="classification", label_column="label", class_names=["neg", "pos"],
        input_shape=[2 + width + 4], scaling="minmax", encoding=encoding,
        numeric=[NumericFeature("a", fill=5.0, low=0.0, high=10.0, scale=0.1, offset=0.0),
                 NumericFeature("b", fill=-1.0, scale=2.0, offset=1.0)],
        categorical=[CategoricalFeature("color", ["blue", "green", "red"], fill="red")],
        text=["review"], vocabulary=["good", "bad", "film"], max_tokens=4,
        layout=[Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2),
                Segment("color", encoding, 2, 2 + width), Segment("review", "tokens", 2 + width, 6 + width)],
    )


def image(channels: int = 1, scale=None, offset=None) -> FittedTransform:
    return FittedTransform(
        kind="image", task="classification", label_column="label", class_names=["0", "1"],
        input_shape=[channels, 4, 5], scaling="standard",
        image=ImageFeature("image", 4, 5, channels, scale or [2.0] * channels, offset or [-1.0] * channels))


def png(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt)
    return buf.getvalue()


RAW = pd.DataFrame({
    "a": [3.0, np.nan, 25.0, -4.0],
    "b": [1.0, 2.0, np.inf, 0.5],
    "color": ["green", None, "purple", "blue"],
    "review": ["Good film, good!", None, "bad bad bad bad bad", "unknownword film"],
    "ignored": [1, 2, 3, 4],
})


def test_json_round_trip_is_lossless_and_canonical():
    for t in (tabular(), tabular("ordinal"), image(3)):
        again = FittedTransform.from_json(t.to_json())
        assert again == t
        assert again.to_json() == t.to_json()
        assert json.loads(t.to_json())["format"] == "gristmill.fitted-transform"


def test_from_json_rejects_other_documents_and_versions():
    with pytest.raises(ValueError, match="not a fitted transform"):
        FittedTransform.from_json('{"kind": "tabular"}')
    doc = json.loads(tabular().to_json())
    doc["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        FittedTransform.from_json(json.dumps(doc))
    doc = json.loads(tabular().to_json())
    doc["input_shape"] = [3]
    with pytest.raises(ValueError, match="layout width"):
        FittedTransform.from_json(json.dumps(doc))


def test_apply_tabular_fills_clips_scales_encodes_and_tokenizes():
    stats: dict[str, int] = {}
    x = tabular().apply(RAW, stats=stats)
    assert x.dtype == np.float32 and x.shape == (4, 9)
    # a: clip to [0, 10], NaN -> fill 5, then * 0.1
    np.testing.assert_allclose(x[:, 0], [0.3, 0.5, 1.0, 0.0], rtol=1e-6)
    # b: inf is missing -> fill -1, then * 2 + 1
    np.testing.assert_allclose(x[:, 1], [3.0, 5.0, -1.0, 2.0], rtol=1e-6)
    # one-hot over [blue, green, red]; None -> fill "red"; unseen "purple" -> all zeros
    np.testing.assert_array_equal(x[:, 2:5], [[0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
    # tokens: "good"=2, "bad"=3, "film"=4; OOV 1; PAD 0; truncated to 4
    np.testing.assert_array_equal(x[:, 5:9], [[2, 4, 2, PAD_ID], [PAD_ID] * 4, [3, 3, 3, 3], [OOV_ID, 4, 0, 0]])
    assert stats == {"outliers_clipped": 2, "missing_imputed": 2 + 1 + 1}


def test_apply_ordinal_marks_unseen_with_minus_one():
    x = tabular("ordinal").apply(RAW)
    np.testing.assert_array_equal(x[:, 2], [1, 2, -1, 0])


def test_apply_accepts_rows_as_dicts_and_numeric_arrays():
    t = tabular()
    rows = RAW.drop(columns="ignored").to_dict("records")
    np.testing.assert_array_equal(t.apply(rows), t.apply(RAW))
    np.testing.assert_array_equal(t.apply(rows[0]), t.apply(RAW)[:1])
    numeric = FittedTransform(kind="tabular", task="regression", label_column="y", class_names=[], input_shape=[2],
                              numeric=tabular().numeric, layout=tabular().layout[:2])
    arr = RAW[["a", "b"]].to_numpy()
    np.testing.assert_array_equal(numeric.apply(arr), numeric.apply(RAW))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        numeric.apply(np.zeros((3, 5)))


def test_apply_does_not_modify_its_input():
    raw = RAW.copy()
    tabular().apply(raw)
    pd.testing.assert_frame_equal(raw, RAW)
    arr = RAW[["a", "b"]].to_numpy().copy()
    FittedTransform(kind="tabular", task="regression", label_column="y", class_names=[], input_shape=[2],
                    numeric=tabular().numeric, layout=tabular().layout[:2]).apply(arr)
    np.testing.assert_array_equal(arr, RAW[["a", "b"]].to_numpy())


def test_apply_names_missing_columns():
    with pytest.raises(ValueError, match=r"lacks columns \['review'\]"):
        tabular().apply(RAW.drop(columns="review"))


def test_images_from_bytes_arrays_floats_and_pil_agree():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    t = image(1)
    from_png = t.apply([png(g) for g in gray])
    assert from_png.shape == (3, 1, 4, 5) and from_png.dtype == np.float32
    np.testing.assert_allclose(from_png[:, 0], gray / 255 * 2 - 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(t.apply(gray), from_png)                       # (N, H, W) uint8
    np.testing.assert_array_equal(t.apply(gray[..., None]), from_png)            # (N, H, W, 1)
    np.testing.assert_array_equal(t.apply(gray[0]), from_png[:1])                # one (H, W)
    np.testing.assert_array_equal(t.apply(png(gray[1])), from_png[1:2])          # one PNG
    np.testing.assert_array_equal(t.apply([Image.fromarray(g) for g in gray]), from_png)
    np.testing.assert_allclose(t.apply(gray.astype(np.float32) / 255), from_png, atol=1e-6)
    np.testing.assert_array_equal(t.apply(pd.DataFrame({"image": [png(g) for g in gray]})), from_png)


def test_rgb_input_to_a_grayscale_transform_matches_pil_conversion():
    rgb = np.random.default_rng(1).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    t = image(1)
    np.testing.assert_array_equal(t.apply(rgb), t.apply([png(a) for a in rgb]))
    rgba = np.concatenate([rgb, np.full((2, 4, 5, 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(t.apply(rgba), t.apply(rgb))


def test_images_of_another_size_are_resized_like_decoding_does():
    big = np.random.default_rng(2).integers(0, 256, (2, 8, 10, 3), dtype=np.uint8)
    t = image(3, [1.0] * 3, [0.0] * 3)
    x = t.apply(big)
    assert x.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(x, t.apply([png(a) for a in big]))


def test_unreadable_image_is_an_error_at_apply():
    with pytest.raises(ValueError, match="unreadable"):
        image().apply([b"not an image"])


def test_decode_images_reports_unreadable_and_converts_modes():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    items = [png(rgb), b"", None, b"\x89PNG truncated", png(rgb, "JPEG")]
    pixels, ok = decode_images(items, 4, 5, 1)
    assert ok.tolist() == [True, False, False, False, True]
    assert pixels.shape == (5, 4, 5, 1)
    assert pixels[0, 0, 0, 0] == np.asarray(Image.fromarray(rgb).convert("L"))[0, 0]


def test_repair_text_fixes_mojibake_controls_and_replacement_chars():
    raw = ["cafÃ© crÃ¨me", "itâ€™s fine", "bell\x07 and\x00 nul", "broken \ufffd char", "clean naïve text", None,
           "doubly cafÃƒÂ©"]
    fixed, changed = repair_text(raw)
    assert fixed.to_pylist() == ["café crème", "it’s fine", "bell and nul", "broken  char", "clean naïve text",
                                 None, "doubly café"]
    assert changed.tolist() == [True, True, True, True, False, False, True]


def test_token_ids_pad_truncate_and_mark_oov():
    ids = token_ids(["A b, c! a", "", "zzz"], pa.array(["a", "b"]), 3)
    np.testing.assert_array_equal(ids, [[2, 3, OOV_ID], [0, 0, 0], [OOV_ID, 0, 0]])


def test_encode_labels():
    t = tabular()
    np.testing.assert_array_equal(t.encode_labels(["pos", "neg", "pos"]), [1, 0, 1])
    assert t.encode_labels(["pos"]).dtype == np.int64
    with pytest.raises(ValueError, match="maybe"):
        t.encode_labels(["pos", "maybe"])
    reg = FittedTransform(kind="image", task="regression", label_column="y", class_names=[], input_shape=[1, 4, 5],
                          image=image().image)
    assert reg.encode_labels([1, 2.5]).dtype == np.float32


def test_probe_reads_png_headers_in_bulk_and_other_formats_through_pil():
    gray = np.zeros((3, 5), np.uint8)
    rgb = np.zeros((4, 6, 3), np.uint8)
    pal = Image.new("P", (6, 4))
    pal.putpalette([v for i in range(256) for v in (i, i, i)])     # a gray palette reads as grayscale
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    la = Image.fromarray(np.zeros((2, 2, 2), np.uint8), "LA")
    buf_la = io.BytesIO()
    la.save(buf_la, format="PNG")
    items = [png(gray), png(rgb), png(rgb, "JPEG"), png(gray, "JPEG"), buf.getvalue(), buf_la.getvalue(),
             b"", None, b"\x89PNG\r\n\x1a\n-garbage-garbage-garbage"]
    sizes, is_gray = probe_images(items)
    assert sizes.tolist() == [[3, 5], [4, 6], [4, 6], [3, 5], [4, 6], [2, 2], [-1, -1], [-1, -1], [-1, -1]]
    assert is_gray.tolist() == [True, False, False, True, True, True, False, False, False]
