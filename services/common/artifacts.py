"""Content-addressed artifact store on fsspec: a local directory by default, s3:// the same way.

Objects live at `<root>/sha256/<aa>/<digest>`; the digest is the address, so writing the same
bytes twice stores them once and a reader can always verify what it got.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

import fsspec

from services.common.errors import FailedPrecondition, NotFound

CHUNK = 1 << 20


class Artifact:
    """A stored object: uri, sha256, size. Mirrors gristmill.common.v1.ArtifactRef."""

    __slots__ = ("uri", "sha256", "size_bytes", "media_type")

    def __init__(self, uri: str, sha256: str, size_bytes: int, media_type: str = "") -> None:
        self.uri, self.sha256, self.size_bytes, self.media_type = uri, sha256, size_bytes, media_type

    def __repr__(self) -> str:
        return f"Artifact({self.uri!r}, sha256={self.sha256[:12]}, {self.size_bytes} B)"


class ArtifactStore:
    def __init__(self, root_uri: str, s3_endpoint_url: str = "") -> None:
        self.root_uri = root_uri.rstrip("/")
        options = {}
        if root_uri.startswith("s3://") and s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
        self.fs, self.root = fsspec.core.url_to_fs(self.root_uri, **options)
        self.protocol = "file" if self.root_uri.startswith("file://") or "://" not in self.root_uri else (
            urlparse(self.root_uri).scheme)
        if self.protocol == "file":
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> str:
        return f"{self.root}/sha256/{digest[:2]}/{digest}"

    def _uri(self, path: str) -> str:
        return Path(path).as_uri() if self.protocol == "file" else f"{self.protocol}://{path}"

    def path_of(self, uri: str) -> str:
        if not uri.startswith(self.root_uri.split("://")[0] + "://"):
            raise NotFound(f"artifact {uri} is not in store {self.root_uri}")
        return self.fs._strip_protocol(uri)

    def put_bytes(self, data: bytes, media_type: str = "") -> Artifact:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not self.fs.exists(path):
            self._atomic_write(path, [data])
        return Artifact(self._uri(path), digest, len(data), media_type)

    def put_file(self, local_path: str | os.PathLike, media_type: str = "") -> Artifact:
        h = hashlib.sha256()
        with open(local_path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
        digest = h.hexdigest()
        path = self._path(digest)
        size = os.path.getsize(local_path)
        if not self.fs.exists(path):
            if self.protocol == "file":
                self._atomic_write(path, _read_blocks(local_path))
            else:
                self.fs.put_file(str(local_path), path)
        return Artifact(self._uri(path), digest, size, media_type)

    def _atomic_write(self, path: str, blocks) -> None:
        if self.protocol != "file":
            # object stores publish a key only once the upload completes
            with self.fs.open(path, "wb") as f:
                for b in blocks:
                    f.write(b)
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=f".tmp-{uuid.uuid4().hex[:6]}")
        try:
            with os.fdopen(fd, "wb") as f:
                for b in blocks:
                    f.write(b)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # readers never see a half-written object
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_bytes(self, uri: str, sha256: str = "") -> bytes:
        """Read and verify: the digest in the path (and `sha256` when given) must match."""
        path = self.path_of(uri)
        if not self.fs.exists(path):
            raise NotFound(f"artifact {uri} does not exist")
        data = self.fs.cat_file(path)
        actual = hashlib.sha256(data).hexdigest()
        expected = {sha256} if sha256 else set()
        if "/sha256/" in path:
            expected.add(path.rsplit("/", 1)[-1])
        if any(actual != e for e in expected):
            raise FailedPrecondition(f"checksum mismatch for {uri}: expected {sorted(expected)}, got {actual}")
        return data

    def fetch_to(self, uri: str, dest: str | os.PathLike, sha256: str = "") -> Path:
        """Copy a verified artifact to a local file (for libraries that want a path)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.read_bytes(uri, sha256))
        return dest

    def exists(self, uri: str) -> bool:
        return self.fs.exists(self.path_of(uri))


def _read_blocks(path):
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(CHUNK), b"")
