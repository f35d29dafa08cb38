"""Metrics by task.

* classification: accuracy, precision/recall/F1 (macro and weighted), ROC-AUC (binary, or
  one-vs-rest macro when every class occurs), log loss, confusion matrix.
* regression and forecasting: MSE, MAE, RMSE, R².
* detection (one box per image; predictions = 4 box coordinates + class probabilities):
  mean IoU and mAP@0.5 (VOC all-point interpolated AP, averaged over classes present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MINIMIZE = frozenset({"mse", "mae", "rmse", "log_loss", "loss", "val_loss"})
DEFAULT_GATE_METRIC = {"classification": "accuracy", "regression": "rmse", "forecasting": "rmse",
                       "detection": "map50"}
PRIMARY = {"classification": "accuracy", "regression": "r2", "forecasting": "r2", "detection": "map50"}


def higher_is_better(metric: str) -> bool:
    name = metric.removeprefix("val_").removeprefix("test_").removeprefix("train_")
    return name not in MINIMIZE


@dataclass
class SplitMetrics:
    split: str
    metrics: dict[str, float]
    confusion_matrix: list[int] = field(default_factory=list)
    num_classes: int = 0
    rows: int = 0


def classification_metrics(y: np.ndarray, probs: np.ndarray, num_classes: int) -> tuple[dict[str, float], list[int]]:
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = np.asarray(y).astype(np.int64).reshape(-1)
    labels = list(range(num_classes))
    pred = probs.argmax(axis=1)
    out: dict[str, float] = {"accuracy": float(accuracy_score(y, pred))}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = float(p), float(r), float(f)
    present = np.unique(y)
    p = np.clip(probs, 1e-12, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    out["log_loss"] = float(log_loss(y, p, labels=labels))
    if num_classes == 2 and len(present) == 2:
        out["roc_auc"] = float(roc_auc_score(y, p[:, 1]))
    elif num_classes > 2 and len(present) == num_classes:
        out["roc_auc"] = float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels))
    cm = confusion_matrix(y, pred, labels=labels)
    return out, [int(v) for v in cm.reshape(-1)]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    err = pred - y
    mse = float((err ** 2).mean())
    ss_res = (err ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
    return {"mse": mse, "mae": float(np.abs(err).mean()), "rmse": float(np.sqrt(mse)), "r2": float(r2.mean())}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix1, iy1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    ix2, iy2 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-12)


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP (PASCAL VOC 2010+) of ranked detections."""
    if n_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    fp = 1.0 - tp
    ctp, cfp = np.cumsum(tp), np.cumsum(fp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]).sum())


def detection_metrics(y: np.ndarray, pred: np.ndarray, num_classes: int, iou_threshold: float = 0.5
                      ) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    gt_boxes = y[:, :4]
    gt_cls = y[:, 4].astype(np.int64) if y.shape[1] >= 5 else np.zeros(len(y), dtype=np.int64)
    boxes = pred[:, :4]
    probs = pred[:, 4:] if pred.shape[1] > 4 else np.ones((len(pred), 1))
    cls = probs.argmax(axis=1)
    score = probs.max(axis=1)
    iou = box_iou(boxes, gt_boxes)
    aps = []
    for c in range(max(1, num_classes)):
        n_gt = int((gt_cls == c).sum())
        if n_gt == 0:
            continue
        mine = cls == c
        tp = (iou[mine] >= iou_threshold) & (gt_cls[mine] == c)
        aps.append(average_precision(score[mine], tp, n_gt))
    out = {"iou": float(iou.mean()), "map50": float(np.mean(aps)) if aps else 0.0,
           "hit_rate50": float((iou >= iou_threshold).mean())}
    if num_classes > 1:
        out["class_accuracy"] = float((cls == gt_cls).mean())
    return out


def compute(task: str, y: np.ndarray, pred: np.ndarray, num_classes: int, split: str) -> SplitMetrics:
    if task == "classification":
        m, cm = classification_metrics(y, pred, num_classes)
        return SplitMetrics(split, m, cm, num_classes, len(y))
    if task == "detection":
        return SplitMetrics(split, detection_metrics(y, pred, num_classes), [], num_classes, len(y))
    return SplitMetrics(split, regression_metrics(y, pred), [], 0, len(y))
