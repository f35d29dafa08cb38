"""The inference log's publisher process: binary records on stdin -> InferenceLogged on Kafka.

Started by the predictor (`inference_log.process_sender`), one per predictor process, at a lower CPU
priority (nice `GRISTMILL_SERVING_LOG_NICE`, default 10). It ignores SIGTERM/SIGINT and exits at EOF
(the predictor closed the pipe, or died) after flushing what it has.

    python -m services.serving.log_publisher BOOTSTRAP CLIENT_ID MODEL_NAME MODEL_VERSION_ID PROJECT
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from services.serving.inference_log import decode, make_log_producer, publish, to_events

log = logging.getLogger("services.serving.log_publisher")


def read_exact(stream, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


def main(argv: list[str]) -> int:
    bootstrap, client_id, model_name, version, project = argv[:5]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s log_publisher %(levelname)s %(message)s")
    # a group-wide SIGTERM (the deployer stopping the predictor) must not lose what is buffered: the
    # predictor closes the pipe on its way out, and EOF ends this process after a flush
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    try:  # best-effort background work: on a busy host the predictor's requests come first
        os.nice(int(os.environ.get("GRISTMILL_SERVING_LOG_NICE", "10")))
    except (OSError, ValueError):
        pass
    producer = make_log_producer(bootstrap, client_id,
                                 linger_ms=int(os.environ.get("GRISTMILL_SERVING_LOG_LINGER_MS", "100")))
    stream = sys.stdin.buffer
    try:
        while True:
            head = read_exact(stream, 4)
            if not head:
                return 0
            body = read_exact(stream, int.from_bytes(head, "little"))
            if not body:
                return 0
            publish(producer, to_events(decode(body), model_name=model_name, model_version_id=version,
                                        project=project))
    finally:
        producer.flush(timeout=10)
        producer.close(timeout=5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
