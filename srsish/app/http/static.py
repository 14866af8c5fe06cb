"""StaticFiles: serve the files under http_server's dir, with content types, HEAD and single byte ranges."""
import os
from typing import List, Optional, Tuple

from srsish.app.http.connection import HttpConnection, render_head
from srsish.app.http.types import HttpRequest, HttpResponse
from srsish.core import paths

FILE_CHUNK = 256 * 1024   # bytes read and sent per step of a file
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/MP2T", ".flv": "video/x-flv", ".mp4": "video/mp4",
    ".m4s": "video/iso.segment", ".mp3": "audio/mpeg", ".aac": "audio/aac", ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8", ".js": "application/javascript", ".css": "text/css",
    ".json": "application/json", ".txt": "text/plain; charset=utf-8", ".xml": "text/xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".ico": "image/x-icon",
    ".svg": "image/svg+xml", ".wasm": "application/wasm",
}


class StaticFiles:
    """Files under one root, never outside it, with types, HEAD and single ranges."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def resolve(self, path: str) -> Optional[str]:
        """The real file for a request path, or None for anything that is not safely inside the root."""
        if "\\" in path or "." in path.split("/"):
            return None
        try:
            full = paths.join_under(self.root, path)    # `..`, NUL and symlinks out of the root refused
            if os.path.isdir(full):
                full = paths.resolve_under(self.root, os.path.join(full, "index.html"))
        except paths.OutsideRoot:
            return None
        return full if os.path.isfile(full) else None

    def serve(self, conn: HttpConnection, req: HttpRequest, keep_alive: bool, extra: List[Tuple[str, str]]) -> bool:
        """Serve the file; False when there is none (the caller answers 404)."""
        full = self.resolve(req.path)
        if full is None:
            return False
        try:
            f = open(full, "rb")
        except OSError:
            return False
        with f:
            size = os.fstat(f.fileno()).st_size
            ext = os.path.splitext(full)[1].lower()
            headers = [("Content-Type", CONTENT_TYPES.get(ext, "application/octet-stream")),
                       ("Accept-Ranges", "bytes")]
            if ext == ".m3u8":
                headers.append(("Cache-Control", "no-cache"))
            status, start, end = 200, 0, size - 1
            rng = req.headers.get("range", "")
            if rng:
                parsed = parse_range(rng, size)
                if parsed is None:
                    conn.respond(req, HttpResponse(416, headers + [("Content-Range", f"bytes */{size}")]),
                                 keep_alive, extra)
                    return True
                status, (start, end) = 206, parsed
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            length = max(0, end - start + 1)
            headers.append(("Content-Length", str(length)))
            headers.append(("Connection", "Keep-Alive" if keep_alive else "Close"))
            conn.send(render_head(status, headers + extra))
            if req.method == "HEAD":
                return True
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(FILE_CHUNK, left))
                if not data:
                    raise OSError(f"{full} shrank while being served")
                conn.send(data)
                left -= len(data)
        return True


def parse_range(value: str, size: int) -> Optional[Tuple[int, int]]:
    """One `bytes=a-b` range as (start, end) inclusive; None when it cannot be satisfied.

    Several ranges are answered with the first one only, which clients accept.
    """
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    first = spec.split(",")[0].strip()
    a, sep, b = first.partition("-")
    try:
        if not sep:
            return None
        if a == "":
            n = int(b)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start < 0 or start >= size or end < start:
        return None
    return start, min(end, size - 1)
