"""Over- and underfitting diagnosis with concrete recommendations.

Evidence comes from two places: the metrics on train/validation (a large gap means the model
learned the training data rather than the task; poor scores everywhere mean it learned too
little) and the training curves in the model card (validation loss turning up while training
loss keeps falling is overfitting even when the final gap is modest; losses still falling at
the last epoch mean training stopped too early).

Recommendations name the knob and a value to try, read from the model card (architecture params,
optimizer and training settings), so they can be pasted into the next TrainingSpec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.common.modelzoo import ModelCard

GOOD_FIT, OVERFITTING, UNDERFITTING = "good_fit", "overfitting", "underfitting"


@dataclass
class Diagnosis:
    verdict: str
    evidence: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)


def _score(task: str, metrics: dict[str, float]) -> tuple[str, float | None]:
    """The score judged (higher is better)."""
    if task == "classification":
        return "accuracy", metrics.get("accuracy")
    if task == "detection":
        return "iou", metrics.get("iou")
    return "r2", metrics.get("r2")


def _good_level(task: str, baseline: float) -> float:
    """What a model that learned something reaches: most of the way from the trivial baseline to 1."""
    if task == "classification":
        return baseline + 0.6 * (1.0 - baseline)
    if task == "detection":
        return 0.5
    return 0.6  # R²


def _gap_limit(task: str) -> float:
    return {"classification": 0.08, "detection": 0.1}.get(task, 0.15)


def curve_facts(history: list[dict[str, Any]]) -> dict[str, Any]:
    if not history:
        return {}
    val = [h["val_loss"] for h in history]
    train = [h["train_loss"] for h in history]
    best = min(range(len(val)), key=val.__getitem__)
    last = len(val) - 1
    return {
        "epochs": len(history), "best_epoch": history[best]["epoch"],
        "val_best": val[best], "val_last": val[last], "train_first": train[0], "train_last": train[last],
        "train_at_best": train[best],
        # validation loss rose clearly after its minimum while training loss kept falling
        "diverging": last - best >= 2 and val[last] > val[best] * 1.1 + 1e-9 and train[last] < train[best],
        # still improving at the end: the last epoch is (nearly) the best
        "still_improving": len(val) >= 2 and best >= last - 1 and val[last] < val[max(0, last - 2)] * 0.99,
        "barely_moved": len(train) >= 2 and train[last] > train[0] * 0.9,
    }


def diagnose(card: ModelCard, splits: dict[str, dict[str, float]], baseline: float = 0.0) -> Diagnosis:
    """`splits`: metrics by split ("train", "validation", ...); `baseline`: the trivial score
    (majority-class accuracy for classification, 0 for R²)."""
    task = card.task
    name, train = _score(task, splits.get("train", {}))
    _, val = _score(task, splits.get("validation", splits.get("test", {})))
    facts = curve_facts((card.training or {}).get("history") or [])
    d = Diagnosis(GOOD_FIT)
    if train is None or val is None:
        d.evidence.append("train or validation metrics are missing; no diagnosis")
        return d
    good = _good_level(task, baseline)
    gap = train - val
    over = gap > _gap_limit(task) or bool(facts.get("diverging"))
    under = train < good and val < good
    if under:
        d.verdict = UNDERFITTING
        d.evidence.append(f"train {name} {train:.3f} and validation {name} {val:.3f} are both below {good:.3f} "
                          f"(trivial baseline {baseline:.3f})")
        if facts.get("still_improving"):
            d.evidence.append(f"validation loss was still falling at the last epoch ({facts['epochs']})")
        if facts.get("barely_moved"):
            d.evidence.append(f"training loss barely moved ({facts['train_first']:.4f} -> {facts['train_last']:.4f})")
        d.recommendations = _underfit_recommendations(card, facts)
    elif over:
        d.verdict = OVERFITTING
        if gap > _gap_limit(task):
            d.evidence.append(f"train {name} {train:.3f} vs validation {name} {val:.3f}: gap {gap:.3f} "
                              f"> {_gap_limit(task):.2f}")
        if facts.get("diverging"):
            d.evidence.append(f"validation loss was lowest at epoch {facts['best_epoch']} ({facts['val_best']:.4f}) "
                              f"and rose to {facts['val_last']:.4f} while training loss kept falling")
        d.recommendations = _overfit_recommendations(card, facts)
    else:
        d.evidence.append(f"train {name} {train:.3f}, validation {name} {val:.3f}, gap {gap:.3f}")
        if facts.get("still_improving"):
            d.recommendations.append(f"validation loss was still falling at the last epoch: try "
                                     f"epochs={2 * int(card.training.get('epochs', facts['epochs']))}")
    return d


def _overfit_recommendations(card: ModelCard, facts: dict[str, Any]) -> list[str]:
    p, t, opt = card.params or {}, card.training or {}, card.optimizer or {}
    recs: list[str] = []
    arch = card.architecture
    if arch == "tree":
        depth = p.get("max_depth") or 8
        recs.append(f"limit the tree: max_depth={max(2, int(depth) // 2)} (now {p.get('max_depth')}) or "
                    f"min_samples_leaf={max(5, 2 * int(p.get('min_samples_leaf', 1)))}")
        recs.append("prune with cost-complexity: ccp_alpha=0.005")
        return recs
    if arch == "svm":
        c = float(p.get("C", 1.0))
        recs.append(f"regularize more: C={c / 10:g} (now {c:g})")
        return recs
    if facts and not int(t.get("early_stopping_patience", 0)):
        recs.append(f"enable early stopping: early_stopping_patience=3 (validation loss was lowest at epoch "
                    f"{facts['best_epoch']} of {facts['epochs']})")
    dropout_key = "dropout" if arch in ("mlp", "cnn", "transformer") else "head_dropout"
    if dropout_key in p:
        now = float(p[dropout_key] or 0.0)
        recs.append(f"raise {dropout_key} to {min(0.5, round(now + 0.2, 2))} (now {now})")
    wd = float(opt.get("weight_decay", 0.0))
    recs.append(f"add weight decay: weight_decay={max(1e-4, wd * 10):g} (now {wd:g})"
                + (" with optimizer adamw" if opt.get("name") == "adam" else ""))
    size_key = {"mlp": "hidden", "cnn": "channels", "rnn": "hidden_size", "lstm": "hidden_size",
                "gru": "hidden_size", "transformer": "d_model"}.get(arch)
    if size_key and size_key in p:
        now = p[size_key]
        smaller = [max(4, int(v) // 2) for v in now] if isinstance(now, list) else max(4, int(now) // 2)
        recs.append(f"shrink the model: {size_key}={smaller} (now {now})")
    recs.append("add training data, or augmentation in the project's feature spec (augmentation.copies)")
    return recs


def _underfit_recommendations(card: ModelCard, facts: dict[str, Any]) -> list[str]:
    p, t, opt = card.params or {}, card.training or {}, card.optimizer or {}
    recs: list[str] = []
    arch = card.architecture
    if arch == "tree":
        depth = p.get("max_depth")
        recs.append(f"grow the tree: max_depth={int(depth or 8) * 2} (now {depth}), min_samples_leaf=1")
        return recs
    if arch == "svm":
        c = float(p.get("C", 1.0))
        recs.append(f"fit harder: C={c * 10:g} (now {c:g})" + ("; try kernel=rbf" if p.get("kernel") == "linear" else ""))
        return recs
    epochs = int(t.get("epochs", facts.get("epochs", 10) if facts else 10))
    if facts.get("still_improving") or int(t.get("early_stopping_patience", 0)) == 0:
        recs.append(f"train longer: epochs={epochs * 2} (now {epochs})"
                    + (" - validation loss was still falling" if facts.get("still_improving") else ""))
    lr = float(opt.get("learning_rate", 1e-3))
    if facts.get("barely_moved") or lr <= 1e-3:
        recs.append(f"raise learning_rate to {lr * 3:g} (now {lr:g})"
                    + (" - training loss barely moved" if facts.get("barely_moved") else ""))
    size_key = {"mlp": "hidden", "cnn": "channels", "rnn": "hidden_size", "lstm": "hidden_size",
                "gru": "hidden_size", "transformer": "d_model"}.get(arch)
    if size_key and size_key in p:
        now = p[size_key]
        bigger = [int(v) * 2 for v in now] if isinstance(now, list) else int(now) * 2
        recs.append(f"add capacity: {size_key}={bigger} (now {now})")
    for key in ("dropout", "head_dropout"):
        if float(p.get(key) or 0.0) > 0.1:
            recs.append(f"lower {key} to {round(float(p[key]) / 2, 2)} (now {p[key]})")
    wd = float(opt.get("weight_decay", 0.0))
    if wd > 0:
        recs.append(f"lower weight_decay to {wd / 10:g} (now {wd:g})")
    if opt.get("name") in ("sgd", "adadelta", "adagrad"):
        recs.append(f"try optimizer=adam (now {opt.get('name')})")
    return recs
