"""A small tus 1.0 client (httpx) for `vidray upload` and `vidray bench upload`.

Each chunk carries an `Upload-Checksum` (sha256), so a damaged chunk is refused and
resent. Upload URLs are remembered in a JSON file keyed by the file's path, size and
modification time, so running the same command again resumes where it stopped.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import httpx

from cluster.errors import VidrayError

TUS = {"Tus-Resumable": "1.0.0"}


class UploadFailed(VidrayError):
    """The server refused the upload; the message carries its reason."""


def _metadata(values: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


class UrlStore:
    """Remembers the upload URL of each (file, server) pair in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def key(file: Path, server: str) -> str:
        st = file.stat()
        ident = f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}|{server}"
        return hashlib.sha256(ident.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, url: str | None) -> None:
        data = self._load()
        if url is None:
            data.pop(key, None)
        else:
            data[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)


SEND_PIECE = 1024 * 1024


def send_patch(
    http: httpx.Client, url: str, headers: dict[str, str], chunk: bytes
) -> httpx.Response:
    """PATCH `chunk` as one body, handed to httpx in views of 1 MiB.

    Given bytes, httpcore keeps `buffer = buffer[n:]` after each partial `send`, a copy of
    the rest each time: about 13 GiB of copying per GiB of 64 MiB PATCHes, which made
    this client, not the server, the limit. Views of the one buffer copy nothing."""
    view = memoryview(chunk)
    pieces = (view[i : i + SEND_PIECE] for i in range(0, len(view), SEND_PIECE))
    # httpx and h11 take any bytes-like piece; their types say bytes.
    content = cast("Iterator[bytes]", pieces)
    return http.patch(url, headers={**headers, "Content-Length": str(len(chunk))}, content=content)


def _refused(response: httpx.Response) -> UploadFailed:
    return UploadFailed(f"the server answered {response.status_code}: {response.text.strip()}")


def upload_file(
    *,
    server: str,
    path: Path,
    token: str,
    metadata: dict[str, str],
    chunk_size: int = 16 * 1024 * 1024,
    urls: UrlStore | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    client: httpx.Client | None = None,
    checksum: bool = True,
) -> str:
    """Upload (or resume) `path`; returns the upload URL once the server has every byte."""
    http = client or httpx.Client(timeout=httpx.Timeout(60, connect=10))
    auth = {**TUS, "Authorization": f"Bearer {token}"}
    size = path.stat().st_size
    key = UrlStore.key(path, server) if urls else ""
    url = urls.get(key) if urls else None
    offset = 0
    if url is not None:
        head = http.head(url, headers=auth)
        if head.status_code == 200:
            offset = int(head.headers["upload-offset"])
        else:  # expired, failed or deleted: start again
            url = None
    if url is None:
        created = http.post(
            f"{server.rstrip('/')}/files/",
            headers={**auth, "Upload-Length": str(size), "Upload-Metadata": _metadata(metadata)},
        )
        if created.status_code != 201:
            raise _refused(created)
        url = created.headers["location"]
        if urls:
            urls.put(key, url)
    progress(offset, size)
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            chunk = fh.read(chunk_size)
            headers = {
                **auth,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
            }
            if checksum:
                digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                headers["Upload-Checksum"] = f"sha256 {digest}"
            response = send_patch(http, url, headers, chunk)
            if response.status_code == 409:  # someone else moved it: ask where it stands
                offset = int(http.head(url, headers=auth).headers["upload-offset"])
                continue
            if response.status_code != 204:
                raise _refused(response)
            offset = int(response.headers["upload-offset"])
            progress(offset, size)
    if urls:
        urls.put(key, None)
    if client is None:
        http.close()
    return url
