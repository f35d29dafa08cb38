"""The `gristmill` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from google.protobuf import json_format
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from services.cli import lifecycle
from services.cli.platform import Platform
from services.common.grpc_server import channel_options

console = Console(stderr=True)


def channel(service: str) -> grpc.Channel:
    port = Platform().port(service)
    host = os.environ.get(f"GRISTMILL_{service.upper()}_ADDRESS", f"127.0.0.1:{port}")
    return grpc.insecure_channel(host, options=channel_options())


def show(msg) -> None:
    console.print_json(json_format.MessageToJson(msg, preserving_proto_field_name=True))


def cmd_up(args) -> int:
    p = Platform()
    with console.status("starting the local platform") as st:
        p.up(progress=lambda name, what: st.update(f"{name}: {what}"))
    return cmd_status(args)


def cmd_down(args) -> int:
    Platform().down()
    console.print("stopped")
    return 0


def cmd_status(args) -> int:
    p = Platform()
    t = Table("component", "address", "pid", "state")
    kafka_state = "external" if p.external_kafka else ("running" if p.kafka.is_running() else "stopped")
    t.add_row("kafka", p.bootstrap, "", kafka_state)
    rows = p.status()
    for s in rows:
        t.add_row(s.name, f"127.0.0.1:{s.port}", str(s.pid or ""),
                  "healthy" if s.healthy else ("starting/unhealthy" if s.alive else "stopped"))
    console.print(t)
    console.print(f"state: {p.state}")
    return 0 if rows and all(s.healthy for s in rows) else 1


def cmd_apply(args) -> int:
    doc = lifecycle.load(Path(args.file))
    steps = lifecycle.plan(doc)  # parse everything before touching any service
    project = doc["metadata"]["name"]
    data = (doc.get("spec") or {}).get("data")
    if data:
        ds = ensure_dataset(project, data.get("dataset", project))
        console.print(f"dataset {ds} ready in project {project}")
    for section, msg in steps:
        with channel(section.service) as ch:
            section.send(ch, msg)
        console.print(f"{section.name}: applied to {section.service}")
    return 0


def ensure_dataset(project: str, name: str) -> str:
    from gristmill.ingestion.v1 import ingestion_pb2 as pb
    from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc

    with channel("ingestion") as ch:
        stub = pb_grpc.IngestionServiceStub(ch)
        token = ""
        while True:
            page = stub.ListDatasets(pb.ListDatasetsRequest(project=project, page_token=token))
            for d in page.datasets:
                if d.name == name:
                    return d.dataset_id
            token = page.next_page_token
            if not token:
                break
        return stub.CreateDataset(pb.CreateDatasetRequest(project=project, name=name)).dataset_id


def cmd_ingest(args) -> int:
    from gristmill.ingestion.v1 import ingestion_pb2 as pb
    from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
    from services.ingestion import client

    dataset_id = ensure_dataset(args.project, args.dataset)
    with channel("ingestion") as ch:
        stub = pb_grpc.IngestionServiceStub(ch)
        if args.kind == "sample":
            res = stub.IngestSampleSet(pb.IngestSampleSetRequest(dataset_id=dataset_id, name=args.source,
                                                                 drop_labels=args.drop_labels))
        elif args.kind == "uri":
            res = stub.IngestFromUri(pb.IngestFromUriRequest(dataset_id=dataset_id, uri=args.source,
                                                             label_column=args.label_column))
        elif args.kind == "topic":
            res = stub.IngestFromTopic(pb.IngestFromTopicRequest(
                dataset_id=dataset_id, topic=args.source, max_records=args.max_records,
                max_seconds=args.max_seconds, from_beginning=True))
        else:
            data = Path(args.source).read_bytes()
            with Progress(*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                          console=console) as bar:
                task = bar.add_task(f"upload {Path(args.source).name}", total=len(data))
                res = client.upload(stub, dataset_id, data, filename=Path(args.source).name,
                                    label_column=args.label_column,
                                    on_progress=lambda done: bar.update(task, completed=done))
    show(res)
    return 0


def cmd_datasets(args) -> int:
    from gristmill.ingestion.v1 import ingestion_pb2 as pb
    from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc

    with channel("ingestion") as ch:
        stub = pb_grpc.IngestionServiceStub(ch)
        if args.dataset_id:
            res = stub.ListDatasetVersions(pb.ListDatasetVersionsRequest(dataset_id=args.dataset_id))
            t = Table("version", "rows", "labeled", "source", "created")
            for v in res.versions:
                t.add_row(v.version_id, str(v.num_rows), str(v.labeled), v.source, v.created_at.ToJsonString())
        else:
            res = stub.ListDatasets(pb.ListDatasetsRequest(project=args.project))
            t = Table("dataset", "project", "name", "versions", "latest")
            for d in res.datasets:
                t.add_row(d.dataset_id, d.project, d.name, str(d.version_count), d.latest_version_id)
    console.print(t)
    return 0


def cmd_jobs(args) -> int:
    from gristmill.labeling.v1 import labeling_pb2 as pb
    from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc

    with channel("labeling") as ch:
        stub = pb_grpc.LabelingServiceStub(ch)
        if args.job_id:
            stats = stub.GetJobStats(pb.GetJobStatsRequest(job_id=args.job_id))
            t = Table("annotator", "answers", "gold answered", "gold accuracy",
                      title=f"coverage {stats.coverage:.2f}, Fleiss' kappa {stats.fleiss_kappa:.3f}, "
                            f"{len(stats.flagged_items)} flagged")
            for a in stats.annotators:
                t.add_row(a.annotator_id, str(a.annotations), str(a.gold_answered), f"{a.gold_accuracy:.2f}")
        else:
            res = stub.ListJobs(pb.ListJobsRequest(project=args.project))
            t = Table("job", "project", "items", "overlap", "state", "labeled version")
            for j in res.jobs:
                t.add_row(j.job_id, j.project, str(j.num_items), str(j.overlap),
                          pb.JobState.Name(j.state).removeprefix("JOB_STATE_").lower(), j.labeled_version_id)
    console.print(t)
    return 0


def cmd_features(args) -> int:
    from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
    from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pb_grpc

    with channel("preprocessing") as ch:
        stub = pb_grpc.PreprocessingServiceStub(ch)
        if args.feature_set_id:
            show(stub.GetFeatureSet(pb.GetFeatureSetRequest(feature_set_id=args.feature_set_id)))
            return 0
        res = stub.ListFeatureSets(pb.ListFeatureSetsRequest(project=args.project))
        t = Table("feature set", "project", "dataset version", "splits", "augmented", "input shape")
        for f in res.feature_sets:
            t.add_row(f.feature_set_id, f.project, f.dataset_version_id,
                      " ".join(f"{k}={v}" for k, v in sorted(f.split_rows.items())), str(f.augmented_rows),
                      "x".join(map(str, f.input_shape)))
    console.print(t)
    return 0


def cmd_demo(args) -> int:
    from services.cli.demo import run

    return run(keep_running=args.keep_running)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gristmill", description="The Gristmill ML lifecycle platform.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start the broker and every service locally").set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop everything `up` started").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="show the local platform").set_defaults(fn=cmd_status)
    a = sub.add_parser("apply", help="apply a lifecycle spec")
    a.add_argument("-f", "--file", required=True)
    a.set_defaults(fn=cmd_apply)
    i = sub.add_parser("ingest", help="ingest data into a dataset (created when missing)")
    i.add_argument("kind", choices=["file", "uri", "sample", "topic"])
    i.add_argument("source", help="path, URI, sample name (digits, iris, ...) or topic")
    i.add_argument("--project", required=True)
    i.add_argument("--dataset", required=True)
    i.add_argument("--label-column", default="")
    i.add_argument("--drop-labels", action="store_true")
    i.add_argument("--max-records", type=int, default=1000)
    i.add_argument("--max-seconds", type=float, default=30)
    i.set_defaults(fn=cmd_ingest)
    d = sub.add_parser("datasets", help="list datasets, or the versions of one")
    d.add_argument("dataset_id", nargs="?")
    d.add_argument("--project", default="")
    d.set_defaults(fn=cmd_datasets)
    j = sub.add_parser("jobs", help="list labeling jobs, or show one job's agreement and annotators")
    j.add_argument("job_id", nargs="?")
    j.add_argument("--project", default="")
    j.set_defaults(fn=cmd_jobs)
    f = sub.add_parser("features", help="list feature sets, or show one")
    f.add_argument("feature_set_id", nargs="?")
    f.add_argument("--project", default="")
    f.set_defaults(fn=cmd_features)
    m = sub.add_parser("demo", help="run the lifecycle end to end on the embedded defaults")
    m.add_argument("--keep-running", action="store_true", help="leave the platform up afterwards")
    m.set_defaults(fn=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except lifecycle.SpecError as exc:
        console.print(f"[red]invalid spec:[/red] {exc}")
        return 2
    except grpc.RpcError as exc:
        console.print(f"[red]{exc.code().name}:[/red] {exc.details()}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
