"""Evaluation logic: metrics by task, detection AP, over/underfitting diagnosis, search spaces."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.errors import InvalidArgument
from services.common.modelzoo import ModelCard
from services.evaluation import metrics as M
from services.evaluation.diagnosis import GOOD_FIT, OVERFITTING, UNDERFITTING, curve_facts, diagnose
from services.evaluation.study import parse_space, split_params


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = rng.standard_normal((200, 3)) + np.eye(3)[y] * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m, cm = M.classification_metrics(y, probs, 3)
    assert m["accuracy"] == pytest.approx((probs.argmax(1) == y).mean())
    assert m["f1_macro"] == pytest.approx(f1_score(y, probs.argmax(1), average="macro"))
    assert m["f1_weighted"] == pytest.approx(f1_score(y, probs.argmax(1), average="weighted"))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    assert len(cm) == 9 and sum(cm) == 200 and sum(cm[0::4]) == int((probs.argmax(1) == y).sum())
    binary, _ = M.classification_metrics(y[y < 2], probs[y < 2][:, :2] / probs[y < 2][:, :2].sum(1, keepdims=True), 2)
    assert 0.5 < binary["roc_auc"] <= 1
    missing_class, _ = M.classification_metrics(y[y < 2], probs[y < 2], 3)
    assert "roc_auc" not in missing_class  # undefined when a class never occurs


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = M.regression_metrics(y, y + np.array([0.5, -0.5, 0.5, -0.5]))
    assert (m["mse"], m["mae"], m["rmse"]) == pytest.approx((0.25, 0.5, 0.5))
    assert m["r2"] == pytest.approx(1 - 1.0 / 5.0)
    assert M.regression_metrics(y, np.full(4, y.mean()))["r2"] == pytest.approx(0.0)


def test_average_precision_known_values():
    # ranked: TP, FP, TP with 2 ground truths -> precision 1 at recall 0.5, 2/3 at recall 1
    assert M.average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert M.average_precision(np.array([0.9, 0.8]), np.array([1, 1]), 2) == pytest.approx(1.0)
    assert M.average_precision(np.array([0.9]), np.array([0]), 1) == 0.0


def test_detection_metrics():
    gt = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.2, 0.2, 0.4, 0.4]])
    pred = np.concatenate([gt + np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]]),
                           np.ones((3, 1))], axis=1)
    m = M.detection_metrics(gt, pred, 1)
    assert m["iou"] == pytest.approx((1.0 + 0.64 + 0.0) / 3, abs=1e-6)
    assert m["hit_rate50"] == pytest.approx(2 / 3)
    assert m["map50"] == pytest.approx(2 / 3)  # equal scores, ranked in order: TP TP FP over 3 ground truths


def test_metric_directions():
    assert M.higher_is_better("accuracy") and M.higher_is_better("map50") and M.higher_is_better("val_accuracy")
    assert not M.higher_is_better("rmse") and not M.higher_is_better("val_loss") and not M.higher_is_better("mae")


def _card(arch="mlp", history=None, **training):
    return ModelCard(task="classification", architecture=arch,
                     params={"hidden": [64, 32], "dropout": 0.1} if arch == "mlp" else {"max_depth": None},
                     optimizer={"name": "adam", "learning_rate": 0.001, "weight_decay": 0.0},
                     training={"epochs": 20, "early_stopping_patience": 0, "history": history or [], **training})


def _hist(train, val):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "train_metric": 0, "val_metric": 0}
            for i, (t, v) in enumerate(zip(train, val, strict=True))]


def test_overfitting_from_gap_and_diverging_curves():
    history = _hist([1.0, 0.6, 0.4, 0.2, 0.1, 0.05], [1.0, 0.7, 0.6, 0.7, 0.8, 0.95])
    d = diagnose(_card(history=history), {"train": {"accuracy": 0.99}, "validation": {"accuracy": 0.80}}, 0.1)
    assert d.verdict == OVERFITTING
    assert any("gap" in e for e in d.evidence) and any("epoch 3" in e for e in d.evidence)
    text = " ".join(d.recommendations)
    assert "early_stopping_patience=3" in text and "dropout to 0.3" in text and "weight_decay=0.0001" in text
    assert "hidden=[32, 16]" in text
    # diverging curves alone are enough, even with a small final gap
    d = diagnose(_card(history=history), {"train": {"accuracy": 0.93}, "validation": {"accuracy": 0.90}}, 0.1)
    assert d.verdict == OVERFITTING


def test_underfitting_recommends_more_capacity_and_training():
    history = _hist([2.30, 2.25, 2.20, 2.15], [2.31, 2.26, 2.21, 2.16])
    d = diagnose(_card(history=history), {"train": {"accuracy": 0.35}, "validation": {"accuracy": 0.33}}, 0.1)
    assert d.verdict == UNDERFITTING
    text = " ".join(d.recommendations)
    assert "epochs=40" in text and "learning_rate to 0.003" in text and "hidden=[128, 64]" in text
    assert curve_facts(history)["still_improving"]


def test_good_fit_and_trees():
    d = diagnose(_card(history=_hist([0.5, 0.3, 0.25], [0.5, 0.35, 0.33])),
                 {"train": {"accuracy": 0.95}, "validation": {"accuracy": 0.93}}, 0.5)
    assert d.verdict == GOOD_FIT
    tree = diagnose(_card("tree"), {"train": {"accuracy": 1.0}, "validation": {"accuracy": 0.85}}, 0.6)
    assert tree.verdict == OVERFITTING and "max_depth" in tree.recommendations[0]
    regression = ModelCard(task="regression", architecture="gru", params={"hidden_size": 16},
                           optimizer={"learning_rate": 0.01}, training={"epochs": 5})
    assert diagnose(regression, {"train": {"r2": 0.2}, "validation": {"r2": 0.1}}).verdict == UNDERFITTING


def test_search_space_parsing():
    import optuna.distributions as D

    dists = parse_space({"learning_rate": {"low": 1e-4, "high": 0.1, "log": True}, "batch_size": {"choices": [16.0, 32.0]},
                         "epochs": {"low": 2, "high": 5}, "model.hidden": {"choices": ["[16]", "[32, 16]"]},
                         "model.dropout": {"low": 0.0, "high": 0.5}})
    assert isinstance(dists["learning_rate"], D.FloatDistribution) and dists["learning_rate"].log
    assert isinstance(dists["epochs"], D.IntDistribution) and dists["batch_size"].choices == (16, 32)
    hp, model = split_params({"learning_rate": 0.01, "model.hidden": "[32, 16]", "model.dropout": 0.2})
    assert hp == {"learning_rate": 0.01} and model == {"hidden": [32, 16], "dropout": 0.2}
    for bad in ({}, {"lr": {"low": 0, "high": 1}}, {"learning_rate": {"low": 1, "high": 0.1}},
                {"learning_rate": {"low": 0, "high": 1, "log": True}}, {"epochs": {"low": 1.5, "high": 3}},
                {"optimizer": {"choices": []}}, {"model.hidden": {"choices": [[16]]}}, {"momentum": 0.9}):
        with pytest.raises(InvalidArgument):
            parse_space(bad)


class FakeTraining:
    """A training service whose validation loss is a known function of the learning rate."""

    def __init__(self, epochs: int = 5) -> None:
        self.epochs, self.runs, self.cancelled = epochs, {}, []

    def submit(self, project, feature_set_id, hparams, architecture="", model_params=None, trigger="rpc"):
        if feature_set_id == "fs-missing":
            from services.common.errors import NotFound

            raise NotFound("unknown feature set")
        run_id = f"run-{len(self.runs)}"
        self.runs[run_id] = dict(hparams, trigger=trigger)
        return run_id

    def _loss(self, run_id, epoch):
        lr = self.runs[run_id]["learning_rate"]
        return (np.log10(lr) + 2) ** 2 + 1.0 / epoch  # best at lr = 0.01

    def stream_metrics(self, run_id):
        for epoch in range(1, self.epochs + 1):
            if run_id in self.cancelled:
                return
            yield {"epoch": epoch, "val_loss": self._loss(run_id, epoch), "val_metric": 0.0, "metric_name": "accuracy"}

    def cancel(self, run_id):
        self.cancelled.append(run_id)
        return "CANCELLED"

    def get_run(self, run_id):
        return {"state": "SUCCEEDED", "message": "", "model_version_id": f"mv-{run_id}"}

    def get_model_version(self, mv):
        run_id = mv.removeprefix("mv-")
        return {"model_version_id": mv, "metrics": {"val_loss": self._loss(run_id, self.epochs)}}


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_study_runner_finds_the_best_region_and_prunes(sampler):
    from services.evaluation.study import StudyRequest, StudyRunner

    client = FakeTraining()
    trials: dict[int, dict] = {}
    done: dict = {}
    req = StudyRequest(project="p", feature_set_id="fs", space={"learning_rate": {"low": 1e-4, "high": 1.0, "log": True}},
                       sampler=sampler, trials=16, parallelism=2, seed=0)
    runner = StudyRunner(req, client, "study-1", "minimize", lambda n, f: trials.setdefault(n, {}).update(f),
                         done.update)
    runner.submit_first()
    runner.run()
    assert done["state"] == "succeeded" and len(trials) == 16
    assert abs(np.log10(done["best_params"]["learning_rate"]) + 2) < 0.5
    pruned = [n for n, t in trials.items() if t["state"] == "pruned"]
    assert pruned and all(client.runs[trials[n]["run_id"]] and trials[n]["run_id"] in client.cancelled for n in pruned)
    assert all(r["trigger"] == "study:study-1" for r in client.runs.values())


class LateCancelTraining(FakeTraining):
    """Every run finishes before a cancel reaches it, as a fast run on a loaded machine can."""

    def cancel(self, run_id):
        self.cancelled.append(run_id)
        return "SUCCEEDED"


def test_study_trial_whose_run_outran_the_pruner_counts_as_complete():
    from services.evaluation.study import StudyRequest, StudyRunner

    client = LateCancelTraining()
    trials: dict[int, dict] = {}
    done: dict = {}
    req = StudyRequest(project="p", feature_set_id="fs", space={"learning_rate": {"low": 1e-4, "high": 1.0, "log": True}},
                       sampler="random", trials=8, parallelism=1, seed=0)
    runner = StudyRunner(req, client, "study-1", "minimize", lambda n, f: trials.setdefault(n, {}).update(f),
                         done.update)
    runner.submit_first()
    runner.run()
    assert client.cancelled, "the pruner never asked for a cancel, so this test proves nothing"
    assert all(t["state"] == "complete" and t["model_version_id"] for t in trials.values())
    for t in trials.values():
        if t["run_id"] in client.cancelled:
            assert t["value"] == pytest.approx(client._loss(t["run_id"], client.epochs))


def test_study_first_submit_errors_surface():
    from services.common.errors import NotFound
    from services.evaluation.study import StudyRequest, StudyRunner

    req = StudyRequest(project="p", feature_set_id="fs-missing", space={"learning_rate": {"low": 0.001, "high": 0.1}})
    runner = StudyRunner(req, FakeTraining(), "s", "minimize", lambda n, f: None, lambda f: None)
    with pytest.raises(NotFound):
        runner.submit_first()
