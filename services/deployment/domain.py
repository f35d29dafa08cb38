"""Deployments: rolling model versions out to KServe, canaries, promotion and rollback.

Per model name there is at most one *stable* deployment and one *canary* (both READY; their
`traffic_percent` add up to 100). A rollout is recorded as a PENDING deployment first (by the
Deploy RPC or by a passing `ModelEvaluated`) and carried out by one worker thread, so a handler
never blocks the consumer and a restart resumes what was pending:

1. start the new version (local: a ModelServer process on a free port pair; cluster: create or
   patch the InferenceService) and wait until it is ready;
2. on failure: the deployment is FAILED with the reason, the new server is stopped, and whatever
   served before keeps serving untouched;
3. on success, in one transaction: the deployment is READY with its endpoints and traffic share,
   a full rollout marks the previous one SUPERSEDED (its server is stopped after commit), and
   `ModelDeployed` is staged in the outbox.

Promote takes a canary to 100 %; Rollback returns traffic to the deployment it replaced (restarting
it when its server was already stopped) and marks the rolled-back one ROLLED_BACK. A duplicate
event never deploys twice: the consumer skips known event ids and a second deployment for the same
`evaluation_id`, or for a version that already serves (or is pending) under that name, is refused.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import Artifact, ArtifactStore
from services.common.bus import Publisher, new_meta
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.deployment.config import DeploymentSettings
from services.deployment.local import Endpoints, LocalBackend, RolloutFailed, Target
from services.deployment.models import (
    FAILED,
    PENDING,
    READY,
    ROLLED_BACK,
    SUPERSEDED,
    DeploymentRow,
    ModelVersionRow,
    RolloutPolicyRow,
    ServerRow,
)

log = logging.getLogger(__name__)

PRODUCER = "deployment"
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def default_model_name(project: str) -> str:
    """A DNS-1035 label (what KServe and Kubernetes accept) derived from the project name."""
    name = re.sub(r"[^a-z0-9-]+", "-", project.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    return name[:63].rstrip("-")


def check_model_name(name: str) -> str:
    if len(name) > 63 or not _NAME.match(name):
        raise InvalidArgument(f"model_name {name!r} must be a DNS-1035 label: lowercase letters, digits and '-', "
                              "starting with a letter, at most 63 characters")
    return name


@dataclass
class Policy:
    project: str
    model_name: str
    canary_percent: int
    manual_approval: bool
    ready_timeout: float
    updated_at: object = None


@dataclass
class EndpointView:
    deployment_id: str
    model_version_id: str
    rest: str
    grpc: str
    traffic_percent: int


def make_backend(settings: DeploymentSettings):
    if settings.mode == "cluster":
        from services.deployment.cluster import ClusterBackend

        return ClusterBackend(settings)
    return LocalBackend(settings)


class Deployments:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher, settings: DeploymentSettings,
                 backend=None) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.backend = backend if backend is not None else make_backend(settings)
        self.mode = getattr(self.backend, "mode", settings.mode)
        self._lock = threading.RLock()          # one routing change at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------
    # events
    # ------------------------------------------------------------------------------------------
    def on_model_trained(self, event: ev.ModelTrained, s: Session) -> None:
        """Remember where the version's model card is (the only way deployment learns it)."""
        card = event.model_card
        if not event.model_version_id or not card.uri or not card.sha256:
            log.warning("ModelTrained without model_version_id or model card; ignored",
                        extra={"event_id": event.meta.event_id})
            return
        try:
            self._remember(s, event.model_version_id, event.meta.project,
                           Artifact(card.uri, card.sha256, card.size_bytes), event.feature_set_id, event.run_id)
        except InvalidArgument as exc:
            exc.permanent = True  # contradicts what an earlier event said: dead-letter, do not retry
            raise
        # a passing evaluation may have arrived first: its deployment waits in PENDING
        self._wake_after_commit(s)

    def on_model_evaluated(self, event: ev.ModelEvaluated, s: Session) -> None:
        project = event.meta.project
        if not event.passed:
            log.info("evaluation did not pass; nothing to deploy",
                     extra={"model_version_id": event.model_version_id, "reasons": list(event.reasons)})
            return
        if not event.model_version_id:
            log.warning("ModelEvaluated without model_version_id; ignored", extra={"event_id": event.meta.event_id})
            return
        policy = self._policy(s, project)
        if policy.manual_approval:
            log.info("policy requires manual approval; not deploying", extra={"project": project})
            return
        if event.evaluation_id and s.scalar(select(DeploymentRow).where(
                DeploymentRow.evaluation_id == event.evaluation_id)) is not None:
            log.info("evaluation already deployed", extra={"evaluation_id": event.evaluation_id})
            return
        try:
            self._create(s, project=project, model_name=policy.model_name, version=event.model_version_id,
                         canary=policy.canary_percent, source="event", evaluation_id=event.evaluation_id or None,
                         correlation_id=event.meta.correlation_id, causation_id=event.meta.event_id,
                         ready_timeout=policy.ready_timeout, require_card=False)
        except (AlreadyExists, FailedPrecondition) as exc:
            log.info("not deploying: %s", exc.message, extra={"model_version_id": event.model_version_id})
            return
        except InvalidArgument as exc:
            exc.permanent = True  # a contradictory event: dead-letter it, retrying cannot help
            raise
        self._wake_after_commit(s)

    # ------------------------------------------------------------------------------------------
    # RPC entry points
    # ------------------------------------------------------------------------------------------
    def deploy(self, project: str, model_name: str, model_version_id: str, canary_percent: int = 0,
               correlation_id: str = "", card: Artifact | None = None, wait: bool = False,
               ready_timeout: float = 0.0) -> DeploymentRow:
        if not project:
            raise InvalidArgument("project is required")
        if not model_version_id:
            raise InvalidArgument("model_version_id is required")
        if not 0 <= canary_percent <= 100:
            raise InvalidArgument(f"canary_percent must be within 0..100, got {canary_percent}")
        if ready_timeout < 0:
            raise InvalidArgument("ready_timeout_seconds must not be negative")
        if model_name:
            check_model_name(model_name)
        if card is not None and card.uri:
            if not card.sha256:
                raise InvalidArgument("model_card.sha256 is required with model_card.uri")
            if not self.artifacts.exists(card.uri):
                raise NotFound(f"model card {card.uri} does not exist")
        with self.store.session() as s:
            policy = self._policy(s, project)
            if card is not None and card.uri:
                self._remember(s, model_version_id, project, card)
            row = self._create(s, project=project, model_name=model_name or policy.model_name,
                               version=model_version_id, canary=canary_percent or policy.canary_percent,
                               source="rpc", evaluation_id=None, correlation_id=correlation_id, causation_id="",
                               ready_timeout=ready_timeout or policy.ready_timeout, require_card=True)
            deployment_id = row.deployment_id
            self._wake_after_commit(s)
        if not wait:
            return self.get(deployment_id)
        limit = time.monotonic() + (ready_timeout or policy.ready_timeout or self.settings.ready_timeout) + 60
        while time.monotonic() < limit:
            row = self.get(deployment_id)
            if row.state != PENDING:
                return row
            self._wake.set()
            time.sleep(0.1)
        return self.get(deployment_id)

    def promote(self, deployment_id: str) -> DeploymentRow:
        with self._lock:
            with self.store.session() as s:
                d = self._get(s, deployment_id)
                if d.state != READY:
                    raise FailedPrecondition(f"deployment {deployment_id} is {d.state}; only a READY canary "
                                             "can be promoted")
                if d.traffic_percent >= 100:
                    raise FailedPrecondition(f"deployment {deployment_id} already serves 100% of {d.model_name}")
                prev = s.get(DeploymentRow, d.previous_deployment_id) if d.previous_deployment_id else None
                target, prev_target = self._target(s, d), self._target(s, prev) if prev is not None else None
            self.backend.promote(target, prev_target)
            with self.store.session() as s:
                d = self._get(s, deployment_id)
                d.traffic_percent, d.canary_percent = 100, 100
                d.message = "promoted to 100%"
                retire = None
                if prev_target is not None:
                    prev = s.get(DeploymentRow, prev_target.deployment_id)
                    if prev is not None and prev.state == READY:
                        prev.state, prev.traffic_percent = SUPERSEDED, 0
                        prev.message = f"superseded by {deployment_id} (promoted)"
                        retire = prev_target
                self._stage_deployed(s, d)
            if retire is not None:
                self._retire(retire)
            return self.get(deployment_id)

    def rollback(self, deployment_id: str) -> DeploymentRow:
        with self._lock:
            with self.store.session() as s:
                d = self._get(s, deployment_id)
                if d.state != READY:
                    raise FailedPrecondition(f"deployment {deployment_id} is {d.state}; only a serving (READY) "
                                             "deployment can be rolled back")
                prev = s.get(DeploymentRow, d.previous_deployment_id) if d.previous_deployment_id else None
                if prev is None:
                    raise FailedPrecondition(f"deployment {deployment_id} has no previous version of "
                                             f"{d.model_name} to roll back to")
                target, prev_target = self._target(s, d), self._target(s, prev)
                timeout = d.ready_timeout or self.settings.ready_timeout
            try:
                ep = self.backend.restore(prev_target, target, timeout)
            except RolloutFailed as exc:
                raise Unavailable(f"could not restore {prev_target.model_version_id} ({exc}); "
                                  f"{deployment_id} keeps serving") from exc
            with self.store.session() as s:
                d, prev = self._get(s, deployment_id), self._get(s, prev_target.deployment_id)
                prev.state, prev.traffic_percent, prev.canary_percent = READY, 100, 100
                prev.rest_endpoint, prev.grpc_endpoint = ep.rest, ep.grpc
                prev.message = f"serving again after rollback of {deployment_id}"
                d.state, d.traffic_percent = ROLLED_BACK, 0
                d.message = f"rolled back to {prev.model_version_id} ({prev.deployment_id})"
                self._record_server(s, prev, ep)
                # the event says which version serves now, and which one it replaced
                self._stage_deployed(s, prev, previous_version=d.model_version_id)
            if target.current is None or target.current.rest != ep.rest:
                self._retire(target)
            return self.get(deployment_id)

    def get(self, deployment_id: str) -> DeploymentRow:
        with self.store.session() as s:
            return self._get(s, deployment_id)

    def list(self, project: str, model_name: str = "", size: int = 0, token: str = ""
             ) -> tuple[list[DeploymentRow], str]:
        q = select(DeploymentRow).order_by(DeploymentRow.created_at.desc(), DeploymentRow.deployment_id)
        if project:
            q = q.where(DeploymentRow.project == project)
        if model_name:
            q = q.where(DeploymentRow.model_name == model_name)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    def endpoints(self, model_name: str) -> list[EndpointView]:
        """What serves `model_name` now, with each endpoint's share of traffic."""
        with self.store.session() as s:
            rows = s.scalars(select(DeploymentRow).where(DeploymentRow.model_name == model_name,
                                                         DeploymentRow.state == READY)
                             .order_by(DeploymentRow.traffic_percent.desc())).all()
            return [EndpointView(r.deployment_id, r.model_version_id, r.rest_endpoint, r.grpc_endpoint,
                                 r.traffic_percent) for r in rows]

    def put_policy(self, project: str, model_name: str, canary_percent: int, manual_approval: bool,
                   ready_timeout: float) -> Policy:
        if not project:
            raise InvalidArgument("policy.project is required")
        if model_name:
            check_model_name(model_name)
        if not 0 <= canary_percent <= 100:
            raise InvalidArgument(f"canary_percent must be within 0..100, got {canary_percent}")
        if ready_timeout < 0:
            raise InvalidArgument("ready_timeout_seconds must not be negative")
        with self.store.session() as s:
            row = s.get(RolloutPolicyRow, project) or RolloutPolicyRow(project=project)
            row.model_name, row.canary_percent = model_name, canary_percent
            row.manual_approval, row.ready_timeout = manual_approval, ready_timeout
            row.updated_at = utcnow()
            s.add(row)
        return self.get_policy(project)

    def get_policy(self, project: str) -> Policy:
        if not project:
            raise InvalidArgument("project is required")
        with self.store.session() as s:
            return self._policy(s, project)

    # ------------------------------------------------------------------------------------------
    # worker
    # ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="deployment-rollouts", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.settings.stop_servers_on_exit:
            with self._lock:
                self.backend.close()
                servers = getattr(self.backend, "servers", None)
                if servers is not None:  # also those adopted from an earlier run of this service
                    with self.store.session() as s:
                        for srv in s.scalars(select(ServerRow).where(ServerRow.state == "ready")):
                            servers.stop(srv.deployment_id, srv.pid)
                            srv.state = "stopped"

    def _loop(self) -> None:
        next_check = 0.0  # supervise at once: READY servers may be gone after a restart of this service
        while not self._stop.is_set():
            try:
                self.run_pending()
                if self.settings.supervise_interval > 0 and time.monotonic() >= next_check:
                    self.supervise()
                    next_check = time.monotonic() + self.settings.supervise_interval
            except Exception:  # noqa: BLE001 - the worker must survive; the row keeps its state
                log.exception("rollout worker error")
            self._wake.wait(self.settings.worker_interval)
            self._wake.clear()

    def supervise(self) -> int:
        """Local mode: restart the server of every READY deployment whose process is gone (on its old
        ports when free, so endpoints stay put), with back-off; returns how many were restarted."""
        restart = getattr(self.backend, "restart", None)
        if restart is None:
            return 0
        done = 0
        with self._lock:
            with self.store.session() as s:
                targets = [(self._target(s, d), d.ready_timeout) for d in s.scalars(
                    select(DeploymentRow).where(DeploymentRow.state == READY, DeploymentRow.mode == self.mode))]
            for t, ready_timeout in targets:
                if self._stop.is_set() or self.backend.alive(t):
                    continue
                if time.monotonic() < self._retry_at.get(t.deployment_id, 0.0):
                    continue
                try:
                    ep = restart(t, ready_timeout or self.settings.ready_timeout)
                except RolloutFailed as exc:
                    delay = min(300.0, 2 * self._backoff.get(t.deployment_id, 5.0))
                    self._backoff[t.deployment_id] = delay
                    self._retry_at[t.deployment_id] = time.monotonic() + delay
                    with self.store.session() as s:
                        self._get(s, t.deployment_id).message = f"server down, retrying in {delay:g} s: {exc}"
                    continue
                self._backoff.pop(t.deployment_id, None)
                self._retry_at.pop(t.deployment_id, None)
                with self.store.session() as s:
                    d = self._get(s, t.deployment_id)
                    moved = (ep.rest, ep.grpc) != (d.rest_endpoint, d.grpc_endpoint)
                    d.rest_endpoint, d.grpc_endpoint = ep.rest, ep.grpc
                    d.message = f"server restarted after it exited ({utcnow():%Y-%m-%d %H:%M:%S} UTC)"
                    self._record_server(s, d, ep)
                    if moved:  # clients learn the new endpoints the way they learned the old ones
                        self._stage_deployed(s, d)
                log.warning("restarted a ModelServer that had exited", extra={"deployment_id": t.deployment_id})
                done += 1
        return done

    def run_pending(self) -> int:
        """Carry out every pending rollout whose model card is known; returns how many finished."""
        with self.store.session() as s:
            ids = list(s.scalars(select(DeploymentRow.deployment_id).where(DeploymentRow.state == PENDING)
                                 .order_by(DeploymentRow.created_at)))
        return sum(1 for d in ids if not self._stop.is_set() and self._rollout(d))

    def _rollout(self, deployment_id: str) -> bool:
        with self._lock:
            with self.store.session() as s:
                d = s.get(DeploymentRow, deployment_id)
                if d is None or d.state != PENDING:
                    return False
                mv = s.get(ModelVersionRow, d.model_version_id)
                if mv is None:
                    msg = f"waiting for the ModelTrained event of {d.model_version_id} (its model card)"
                    if d.message != msg:
                        d.message = msg
                    return False
                stable, canary = self._live(s, d.model_name)
                target = self._target(s, d)
                stable_t = self._target(s, stable) if stable is not None else None
                timeout = d.ready_timeout or self.settings.ready_timeout
            try:
                ep = self.backend.rollout(target, stable_t, d.canary_percent, timeout)
            except Exception as exc:  # noqa: BLE001 - any failure fails this rollout only
                reason = str(exc) if isinstance(exc, RolloutFailed) else f"{type(exc).__name__}: {exc}"
                with self.store.session() as s:
                    d = self._get(s, deployment_id)
                    d.state, d.traffic_percent = FAILED, 0
                    serving = f"; {stable_t.model_version_id} keeps serving" if stable_t is not None else ""
                    d.message = f"rollout failed: {reason}{serving}"
                log.warning("rollout failed", extra={"deployment_id": deployment_id, "reason": reason})
                return True
            retire: list[Target] = []
            with self.store.session() as s:
                d = self._get(s, deployment_id)
                if canary is not None:
                    c = self._get(s, canary.deployment_id)
                    c.state, c.traffic_percent = SUPERSEDED, 0
                    c.message = f"canary replaced by {deployment_id}"
                    retire.append(self._target(s, c))
                d.state = READY
                d.rest_endpoint, d.grpc_endpoint = ep.rest, ep.grpc
                self._record_server(s, d, ep)
                if stable is not None:
                    st = self._get(s, stable.deployment_id)
                    d.previous_deployment_id, d.previous_model_version_id = st.deployment_id, st.model_version_id
                    if d.canary_percent >= 100:
                        st.state, st.traffic_percent = SUPERSEDED, 0
                        st.message = f"superseded by {deployment_id}"
                        retire.append(self._target(s, st))
                        d.traffic_percent = 100
                        d.message = f"serving 100%, replaced {st.model_version_id}"
                    else:
                        st.traffic_percent = 100 - d.canary_percent
                        d.traffic_percent = d.canary_percent
                        d.message = f"canary at {d.canary_percent}%, {st.model_version_id} keeps {100 - d.canary_percent}%"
                else:
                    d.traffic_percent, d.canary_percent = 100, 100
                    d.message = "serving 100%"
                self._stage_deployed(s, d)
            for t in retire:
                self._retire(t)
            log.info("deployed", extra={"deployment_id": deployment_id, "rest": ep.rest, "grpc": ep.grpc})
            return True

    # ------------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------------
    def _wake_after_commit(self, s: Session) -> None:
        sa_event.listen(s, "after_commit", lambda _s: self._wake.set(), once=True)

    def _remember(self, s: Session, version: str, project: str, card: Artifact, feature_set_id: str = "",
                  run_id: str = "") -> None:
        row = s.get(ModelVersionRow, version)
        if row is not None and row.project and project and row.project != project:
            raise InvalidArgument(f"model version {version} belongs to project {row.project}, not {project}")
        if row is not None and row.card_sha256 and row.card_sha256 != card.sha256:
            raise InvalidArgument(f"model version {version} already has model card {row.card_sha256[:12]}...; "
                                  f"a version's card never changes (got {card.sha256[:12]}...)")
        row = row or ModelVersionRow(model_version_id=version, project=project)
        row.card_uri, row.card_sha256, row.card_size = card.uri, card.sha256, card.size_bytes
        row.feature_set_id = feature_set_id or row.feature_set_id or ""
        row.run_id = run_id or row.run_id or ""
        s.add(row)

    def _policy(self, s: Session, project: str) -> Policy:
        row = s.get(RolloutPolicyRow, project)
        if row is None:
            return Policy(project, default_model_name(project), 100, False, 0.0)
        return Policy(project, row.model_name or default_model_name(project), row.canary_percent or 100,
                      row.manual_approval, row.ready_timeout, row.updated_at)

    def _create(self, s: Session, *, project: str, model_name: str, version: str, canary: int, source: str,
                evaluation_id: str | None, correlation_id: str, causation_id: str, ready_timeout: float,
                require_card: bool) -> DeploymentRow:
        mv = s.get(ModelVersionRow, version)
        if mv is None and require_card:
            raise NotFound(f"model version {version} is unknown: no ModelTrained event named it and no "
                           "model_card was given")
        if mv is not None and mv.project and mv.project != project:
            raise InvalidArgument(f"model version {version} belongs to project {mv.project}, not {project}")
        owner = s.scalar(select(DeploymentRow.project).where(
            DeploymentRow.model_name == model_name, DeploymentRow.state.in_([READY, PENDING]),
            DeploymentRow.project != project).limit(1))
        if owner is not None:
            raise FailedPrecondition(f"model name {model_name} is served for project {owner}; choose another")
        dup = s.scalar(select(DeploymentRow).where(
            DeploymentRow.model_name == model_name, DeploymentRow.model_version_id == version,
            DeploymentRow.state.in_([READY, PENDING])).limit(1))
        if dup is not None:
            raise AlreadyExists(f"model version {version} is already {dup.state.lower()} as {model_name} "
                                f"(deployment {dup.deployment_id})")
        row = DeploymentRow(
            deployment_id=new_id("dep"), project=project, model_name=model_name, model_version_id=version,
            canary_percent=100 if canary in (0, 100) else canary, traffic_percent=0, state=PENDING,
            message="pending rollout", evaluation_id=evaluation_id, source=source, mode=self.mode,
            ready_timeout=ready_timeout, correlation_id=correlation_id, causation_id=causation_id)
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _get(s: Session, deployment_id: str) -> DeploymentRow:
        if not deployment_id:
            raise InvalidArgument("deployment_id is required")
        return get_or_not_found(s, DeploymentRow, deployment_id, "deployment")

    @staticmethod
    def _live(s: Session, model_name: str) -> tuple[DeploymentRow | None, DeploymentRow | None]:
        """(stable, canary) READY deployments of a model name."""
        rows = list(s.scalars(select(DeploymentRow).where(DeploymentRow.model_name == model_name,
                                                          DeploymentRow.state == READY)))
        canary = next((r for r in rows if r.traffic_percent < 100 and r.previous_deployment_id
                       and any(o.deployment_id == r.previous_deployment_id for o in rows)), None)
        stable = next((r for r in rows if r is not canary), None)
        return stable, canary

    @staticmethod
    def _target(s: Session, d: DeploymentRow) -> Target:
        mv = s.get(ModelVersionRow, d.model_version_id)
        if mv is None:
            raise FailedPrecondition(f"model card of {d.model_version_id} is unknown")
        srv = s.get(ServerRow, d.deployment_id)
        current = None
        if d.state == READY and d.rest_endpoint:
            current = Endpoints(d.rest_endpoint, d.grpc_endpoint, srv.pid if srv else 0,
                                srv.http_port if srv else 0, srv.grpc_port if srv else 0)
        return Target(d.deployment_id, d.project, d.model_name, d.model_version_id, mv.card_uri, mv.card_sha256,
                      current)

    def _record_server(self, s: Session, d: DeploymentRow, ep: Endpoints) -> None:
        if not ep.pid:
            return
        srv = s.get(ServerRow, d.deployment_id) or ServerRow(deployment_id=d.deployment_id)
        srv.model_name, srv.model_version_id = d.model_name, d.model_version_id
        srv.pid, srv.http_port, srv.grpc_port, srv.log_path = ep.pid, ep.http_port, ep.grpc_port, ep.log_path
        srv.state, srv.started_at = "ready", utcnow()
        s.add(srv)

    def _retire(self, t: Target) -> None:
        try:
            self.backend.retire(t)
        except Exception:  # noqa: BLE001 - the routing change is committed; a stray server is only waste
            log.exception("could not stop the server of %s", t.deployment_id)
        with self.store.session() as s:
            srv = s.get(ServerRow, t.deployment_id)
            if srv is not None:
                srv.state = "stopped"

    def _stage_deployed(self, s: Session, d: DeploymentRow, previous_version: str | None = None) -> None:
        causation = ev.EventMeta(event_id=d.causation_id, correlation_id=d.correlation_id) \
            if d.causation_id else None
        self.publisher.stage(s, ev.ModelDeployed(
            meta=new_meta(PRODUCER, d.project, d.correlation_id, causation=causation),
            deployment_id=d.deployment_id, model_version_id=d.model_version_id, model_name=d.model_name,
            rest_endpoint=d.rest_endpoint, grpc_endpoint=d.grpc_endpoint, canary_percent=d.traffic_percent,
            previous_model_version_id=previous_version if previous_version is not None
            else d.previous_model_version_id), key=d.model_name)

    def count(self, **filters) -> int:
        with self.store.session() as s:
            q = select(func.count()).select_from(DeploymentRow)
            for k, v in filters.items():
                q = q.where(getattr(DeploymentRow, k) == v)
            return int(s.scalar(q) or 0)
