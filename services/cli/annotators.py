"""Simulated annotators for the demo: each leases tasks over gRPC and answers with its own accuracy."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import grpc

from gristmill.labeling.v1 import labeling_pb2 as pb
from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc


@dataclass
class Annotator:
    name: str
    accuracy: float   # chance of giving the true label; otherwise a random wrong class
    answered: int = 0


def work(channel: grpc.Channel, job_id: str, who: Annotator, truth: list[str], classes: list[str], seed: int,
         stop: threading.Event, on_answer=None) -> None:
    stub = pb_grpc.LabelingServiceStub(channel)
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            tasks = stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job_id, annotator_id=who.name, max_tasks=50)).tasks
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:  # the job completed
                return
            raise
        if not tasks:
            return
        for t in tasks:
            true = truth[t.item_index]
            label = true if rng.random() < who.accuracy else rng.choice([c for c in classes if c != true])
            try:
                res = stub.SubmitAnnotation(pb.SubmitAnnotationRequest(task_id=t.task_id, annotator_id=who.name,
                                                                       label=pb.Label(class_name=label)))
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return
                raise
            who.answered += 1
            if on_answer:
                on_answer()
            if res.job_completed:
                stop.set()
                return


def annotate(channel: grpc.Channel, job_id: str, crowd: list[Annotator], truth: list[str], classes: list[str],
             on_answer=None) -> None:
    """Run the crowd concurrently until the queue is empty or the job completes."""
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(channel, job_id, a, truth, classes, i, stop, on_answer))
               for i, a in enumerate(crowd)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
