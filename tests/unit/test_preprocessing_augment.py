"""Augmentation: seeded, geometrically right, and applied to the training split only."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image

from services.preprocessing import pipeline
from services.preprocessing.augment import augment_images, augment_text
from services.preprocessing.spec import (
    Augmentation,
    FeatureSpec,
    ImageAugmentation,
    Split,
    TextAugmentation,
)


def images(n: int = 4, h: int = 6, w: int = 7) -> np.ndarray:
    return np.random.default_rng(0).random((n, 2, h, w)).astype(np.float32)


def test_flip_only_mirrors_or_keeps_each_image():
    x = images()
    out, src = augment_images(x, ImageAugmentation(horizontal_flip=True), np.random.default_rng(1), copies=8)
    assert out.shape == (32, 2, 6, 7)
    np.testing.assert_array_equal(src, np.tile(np.arange(4), 8))
    flipped = [np.allclose(o, x[s][..., ::-1], atol=1e-5) for o, s in zip(out, src, strict=True)]
    kept = [np.allclose(o, x[s], atol=1e-5) for o, s in zip(out, src, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def test_rotation_by_180_degrees_on_a_square_image_turns_it_around():
    x = images(2, 5, 5)
    cfg = ImageAugmentation(max_rotation_degrees=180)

    class UpperBound:  # every draw at its upper bound: +180 degrees, no shift
        def uniform(self, lo, hi, m):
            return np.full(m, float(hi))

    out, _ = augment_images(x, cfg, UpperBound(), copies=1)
    np.testing.assert_allclose(out, x[..., ::-1, ::-1], atol=1e-4)


def test_image_augmentation_is_seeded():
    x = images()
    cfg = ImageAugmentation(max_rotation_degrees=20, horizontal_flip=True, max_scale=0.2, max_crop=0.2)
    a, _ = augment_images(x, cfg, np.random.default_rng(5), copies=2)
    b, _ = augment_images(x, cfg, np.random.default_rng(5), copies=2)
    c, _ = augment_images(x, cfg, np.random.default_rng(6), copies=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.min() >= x.min() - 1e-6 and a.max() <= x.max() + 1e-6   # interpolation never invents values


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def image_table(n: int = 40) -> pa.Table:
    rng = np.random.default_rng(1)
    return pa.table({"image": pa.array([png(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(n)],
                                       pa.binary()),
                     "label": [str(i % 2) for i in range(n)]})


def image_spec(seed: int = 3, enabled: bool = True) -> FeatureSpec:
    return FeatureSpec(project="p", split=Split(0.5, 0.25, 0.25, seed=1), augmentation=Augmentation(
        enabled=enabled, seed=seed,
        image=ImageAugmentation(max_rotation_degrees=15, horizontal_flip=True, max_crop=0.2, copies=3))).normalized()


def test_pipeline_augments_train_only_after_the_originals_and_seeded():
    plain = pipeline.build(image_table(), image_spec(enabled=False), "label")
    aug = pipeline.build(image_table(), image_spec(), "label")
    again = pipeline.build(image_table(), image_spec(), "label")
    other = pipeline.build(image_table(), image_spec(seed=4), "label")
    n = plain.split_rows["train"]
    assert aug.augmented_rows == 3 * n
    assert aug.split_rows == {"train": 4 * n, "validation": plain.split_rows["validation"],
                              "test": plain.split_rows["test"]}
    for name in ("validation", "test"):
        np.testing.assert_array_equal(aug.splits[name].x, plain.splits[name].x)
    tr = aug.splits["train"]
    np.testing.assert_array_equal(tr.x[:n], plain.splits["train"].x)
    np.testing.assert_array_equal(tr.y[n:], np.tile(tr.y[:n], 3))          # copies keep their labels
    np.testing.assert_array_equal(tr.index[n:], np.tile(tr.index[:n], 3))  # and their source rows
    assert not np.array_equal(tr.x[n:], np.tile(tr.x[:n], (3, 1, 1, 1)))
    np.testing.assert_array_equal(again.splits["train"].x, tr.x)
    assert not np.array_equal(other.splits["train"].x[n:], tr.x[n:])
    assert aug.transform.to_json() == plain.transform.to_json()             # fitted before augmenting


def test_text_deletion_keeps_a_sentence_and_insertion_brings_one_from_another_row():
    texts = ["one two. three four. five six", "alpha beta. gamma delta", "solo sentence"]
    rng = np.random.default_rng(0)
    deleted = augment_text(texts, TextAugmentation(delete_probability=1.0), rng, []).to_pylist()
    assert deleted == ["one two", "alpha beta", "solo sentence"]          # every sentence but the first went
    inserted = augment_text(texts, TextAugmentation(insert_probability=1.0), np.random.default_rng(0), [])
    for i, t in enumerate(inserted.to_pylist()):
        sentences = t.split(". ")
        own = [s.strip() for s in texts[i].split(".")]
        foreign = [s for s in sentences if s not in own]
        assert len(sentences) == len(own) + 1 and len(foreign) == 1
        assert any(foreign[0] in other for j, other in enumerate(texts) if j != i)


def test_text_replacement_uses_vocabulary_words_and_is_seeded():
    texts = ["a b c d e f g h"] * 20
    vocab = ["zebra", "yak"]
    out = augment_text(texts, TextAugmentation(replace_probability=0.5), np.random.default_rng(9), vocab)
    words = " ".join(out.to_pylist()).split()
    assert set(words) <= set("abcdefgh") | set(vocab)
    assert 0.3 < np.mean([w in vocab for w in words]) < 0.7
    again = augment_text(texts, TextAugmentation(replace_probability=0.5), np.random.default_rng(9), vocab)
    assert out.to_pylist() == again.to_pylist()


def test_pipeline_text_augmentation_only_adds_training_rows():
    n = 60
    df = pd.DataFrame({"review": [f"film {i} was good. acting was fine. plot {i % 5} ok" for i in range(n)],
                       "label": ["pos" if i % 2 else "neg" for i in range(n)]})
    table = pa.Table.from_pandas(df)

    def spec(enabled: bool) -> FeatureSpec:
        return FeatureSpec(project="p", split=Split(0.5, 0.25, 0.25, seed=0), augmentation=Augmentation(
            enabled=enabled, seed=1, text=TextAugmentation(replace_probability=0.2, delete_probability=0.3,
                                                           insert_probability=0.5, copies=2))).normalized()

    plain = pipeline.build(table, spec(False), "label")
    aug = pipeline.build(table, spec(True), "label")
    n_train = plain.split_rows["train"]
    assert aug.augmented_rows == 2 * n_train
    assert aug.split_rows["validation"] == plain.split_rows["validation"]
    np.testing.assert_array_equal(aug.splits["test"].x, plain.splits["test"].x)
    np.testing.assert_array_equal(aug.splits["train"].x[:n_train], plain.splits["train"].x)
    assert not np.array_equal(aug.splits["train"].x[n_train:], np.tile(plain.splits["train"].x, (2, 1)))
