"""A run's working directory, shared by the service and the pipeline steps through fsspec.

Layout under `<run_root>/<run_id>/` (a local directory, or s3://... in cluster mode):

    job.json                       what to train (written by the service)
    metrics/epoch-000001.json      one file per finished epoch (written by the trainer)
    checkpoint.json                pointer to the latest complete checkpoint {"epoch": n, "dir": ...}
    ckpt-000001/model.safetensors  model state; optimizer.safetensors: optimizer tensors;
    ckpt-000001/state.json         optimizer scalars, scheduler, early stopping, history
    CANCEL                         present when the service asks the run to stop
    result.json                    the outcome, written by the last pipeline step
    driver.log / driver.pid        the local KFP driver process (kfp-local executor)

Everything is written whole and then published by a small pointer or a rename, so a reader (or a
resumed run) never sees half a checkpoint. No pickle anywhere: tensors are safetensors, the rest
JSON.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from typing import Any

import fsspec


class RunDir:
    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.path = fsspec.core.url_to_fs(self.uri, **(storage_options or {}))
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols
        self.fs.makedirs(self.path, exist_ok=True)

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.path, *parts)

    # --- whole files -------------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write then rename (local) or single PUT (object store): readers see all or nothing."""
        target = self._p(name)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if not self.local:
            self.fs.pipe_file(target, data)
            return
        tmp = self._p(posixpath.dirname(name), f".tmp-{uuid.uuid4().hex[:8]}")
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, target)

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self._p(name))

    def exists(self, name: str) -> bool:
        return self.fs.exists(self._p(name))

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, json.dumps(value, sort_keys=True).encode())

    def read_json(self, name: str, default: Any = None) -> Any:
        try:
            return json.loads(self.read_bytes(name))
        except FileNotFoundError:
            return default

    def remove(self, name: str, recursive: bool = False) -> None:
        try:
            self.fs.rm(self._p(name), recursive=recursive)
        except FileNotFoundError:
            pass

    # --- metrics -----------------------------------------------------------------------------
    def write_epoch(self, metrics: dict[str, Any]) -> None:
        self.write_json(f"metrics/epoch-{int(metrics['epoch']):06d}.json", metrics)

    def epochs(self, after: int = 0) -> list[dict[str, Any]]:
        """Epoch metric records with epoch > `after`, in order."""
        try:
            names = sorted(posixpath.basename(p) for p in self.fs.ls(self._p("metrics"), detail=False))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            if n.startswith("epoch-") and n.endswith(".json") and int(n[6:12]) > after:
                rec = self.read_json(f"metrics/{n}")
                if rec is not None:
                    out.append(rec)
        return out

    # --- cancellation ------------------------------------------------------------------------
    def request_cancel(self) -> None:
        self.write_bytes("CANCEL", b"cancel")

    def cancel_requested(self) -> bool:
        return self.exists("CANCEL")

    # --- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, epoch: int, files: dict[str, bytes]) -> None:
        d = f"ckpt-{epoch:06d}"
        for name, data in files.items():
            self.write_bytes(f"{d}/{name}", data)
        previous = self.read_json("checkpoint.json")
        self.write_json("checkpoint.json", {"epoch": epoch, "dir": d})
        if previous and previous.get("dir") and previous["dir"] != d:
            self.remove(previous["dir"], recursive=True)

    def load_checkpoint(self, names: list[str]) -> tuple[int, dict[str, bytes]] | None:
        pointer = self.read_json("checkpoint.json")
        if not pointer:
            return None
        return int(pointer["epoch"]), {n: self.read_bytes(f"{pointer['dir']}/{n}") for n in names
                                       if self.exists(f"{pointer['dir']}/{n}")}

    def checkpoint_epoch(self) -> int:
        pointer = self.read_json("checkpoint.json")
        return int(pointer["epoch"]) if pointer else 0
