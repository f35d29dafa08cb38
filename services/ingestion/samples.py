"""The sample sets that ship with scikit-learn (no download needed)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn import datasets

from services.common.errors import InvalidArgument
from services.ingestion.formats import images_table

SAMPLES = ("digits", "breast_cancer", "wine", "iris", "diabetes")


def load(name: str, drop_labels: bool = False) -> pa.Table:
    if name not in SAMPLES:
        raise InvalidArgument(f"unknown sample set {name!r}; choose one of {', '.join(SAMPLES)}")
    if name == "digits":
        d = datasets.load_digits()
        # 8x8 intensities 0..16 become 8-bit grayscale PNGs, the way images arrive in real uploads.
        images = np.round(d.images * (255 / 16)).astype(np.uint8)
        return images_table(images, None if drop_labels else d.target)
    d = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = d.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    target = frame.pop("target")
    if not drop_labels:
        if name == "diabetes":
            frame["label"] = target.astype("float64")
        else:
            frame["label"] = np.asarray(d.target_names)[target.to_numpy()]
    return pa.Table.from_pandas(frame, preserve_index=False)
