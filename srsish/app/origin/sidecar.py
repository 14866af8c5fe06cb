"""Sidecars: the small JSON file beside a file being written that tells crash recovery what it is and whom to tell.

`NAME.tmp` (a DVR file, an HLS segment) gets `NAME.tmp.json` when it starts and loses it once it is
complete and reported; one left behind is what recovery.py looks for at the next start.
"""
import json
import os
from typing import Optional

SUFFIX = ".json"
FORMAT_VERSION = 1


def path_of(tmp: str) -> str:
    return tmp + SUFFIX


def write(tmp: str, info: dict) -> None:
    """Write `tmp`'s sidecar atomically (a reader sees the whole JSON or none)."""
    path = path_of(tmp)
    part = path + ".part"
    with open(part, "w", encoding="utf-8", errors="surrogateescape") as f:
        json.dump({"version": FORMAT_VERSION, **info}, f, ensure_ascii=False)
    os.replace(part, path)


def read(path: str) -> dict:
    """A sidecar's contents; ValueError when it is not one this version wrote."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        info = json.load(f)
    if not isinstance(info, dict) or info.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a version {FORMAT_VERSION} sidecar")
    return info


def remove(*paths: Optional[str]) -> bool:
    """Remove files that may already be gone (a sidecar, an index); False when one could not be removed.

    Never raises: a sidecar left behind only makes the next start report its file once more.
    """
    ok = True
    for path in paths:
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
    return ok
