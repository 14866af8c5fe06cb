"""Crash recovery: at start, finish the DVR files and HLS segments a server killed outright left behind, and report them.

Each file being written has a sidecar `NAME.tmp.json` (sidecar.py). At start the roots the conf
gives (dvr_path's root for every vhost with DVR, hls_path for every vhost with HLS) are searched
for sidecars; each one's file is cut after its last whole unit (FLV tag, MP4 sample in the index,
TS PES), completed (FLV metadata, MP4 moov, HLS playlist entry), renamed to its final name and
reported with on_dvr / on_hls marked recovered, with the current conf's http_hooks of its vhost.
A file or sidecar that cannot be used is logged and left as it is; nothing here stops the server.
Paths stay inside the roots, as written and once symlinks are resolved.
"""
import dataclasses
import mmap
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Set

from srsish.app.hooks.events import HookContext
from srsish.app.origin import dvr, dvr_files, hls, sidecar
from srsish.core import naming, paths
from srsish.core.log import get_logger
from srsish.kernel import flv
from srsish.kernel.m3u8 import PlaylistEntry, render_media_playlist
from srsish.kernel.mp4_index import IndexedMp4Muxer
from srsish.kernel.ts_scan import scan_segment

SIDECAR_END = dvr_files.TMP_SUFFIX + sidecar.SUFFIX  # "NAME.tmp.json", DVR and HLS alike
_KIND_ORDER = {"dvr": 0, "hls": 1}                 # a publisher's file before its segment: reports in that order


class RecoveryError(Exception):
    """A left-behind file that cannot be recovered (it stays as it is, with its sidecar)."""


@dataclass
class Roots:
    """The absolute roots the conf gives, per kind."""
    dvr: Set[str]
    hls: Set[str]

    def all(self) -> List[str]:
        return sorted(self.dvr | self.hls)


def roots_of(vhosts: dict, cwd: str) -> Roots:
    """The DVR and HLS roots of every vhost (typed conf) that enables them, absolute and symlink-resolved."""
    out = Roots(set(), set())
    for vhost in vhosts.values():
        if vhost["dvr"]["enabled"]:
            out.dvr.add(os.path.realpath(os.path.join(cwd, dvr.DvrPath(str(vhost["dvr"]["dvr_path"])).root)))
        if vhost["hls"]["enabled"]:
            out.hls.add(os.path.realpath(os.path.join(cwd, str(vhost["hls"]["hls_path"]))))
    return out


def find_sidecars(roots: Roots) -> List[str]:
    """Every sidecar under the roots, each once, real paths; symlinked folders are not followed."""
    found = set()
    for root in roots.all():
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith(SIDECAR_END):
                    found.add(os.path.realpath(os.path.join(folder, name)))
    return sorted(found)


def recover(vhosts: dict, hooks, hooks_conf: Callable[[str], Optional[dict]], cwd: Optional[str] = None,
            log=None) -> int:
    """Recover every file a crash left behind under the conf's roots and queue its hook; returns how many.

    `hooks` is the server's HttpHooks; call this before its `start()`, so a publisher's recovered
    on_dvr / on_hls are queued before the on_unpublish its session is owed.
    """
    cwd = cwd or os.getcwd()
    log = log or get_logger()
    try:
        roots = roots_of(vhosts, cwd)
        found = find_sidecars(roots)
    except Exception as e:  # never keeps the server from starting
        log.error("recover: cannot look for files left behind: %s", e)
        return 0
    jobs = []
    for path in found:
        try:
            info = sidecar.read(path)
            jobs.append((_KIND_ORDER[info["kind"]], path, info))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("recover: skipping %s: %s", path, e)
    done = 0
    for _, path, info in sorted(jobs, key=lambda j: (j[0], j[1])):
        try:
            if info["kind"] == "dvr":
                recovered = _recover_dvr(path, info, roots, log)
            else:
                recovered = _recover_hls(path, info, roots, cwd, log)
        except Exception as e:  # one broken file must not keep the others, or the server, from starting
            log.error("recover: %s left as it is: %s", path[:-len(sidecar.SUFFIX)], e)
            continue
        if recovered is None:
            continue
        action, ctx = recovered
        getattr(hooks, action)(hooks_conf(info["vhost"]) or {}, ctx, recovered=True)
        sidecar.remove(path, path[:-len(sidecar.SUFFIX)] + dvr_files.INDEX_SUFFIX)
        done += 1
    return done


def _hook_context(fields: dict) -> HookContext:
    known = {f.name for f in dataclasses.fields(HookContext)}
    return HookContext(**{k: v for k, v in fields.items() if k in known})


def _under_one(roots: Set[str], path: str) -> str:
    """The root of `roots` that `path` is under (as written and resolved); RecoveryError when none."""
    for root in sorted(roots):
        try:
            paths.resolve_under(root, path)
            return root
        except paths.OutsideRoot:
            continue
    raise RecoveryError(f"{path} is under no root the conf gives")


# ----------------------------------------------------------------------------- DVR

def _recover_dvr(sidecar_path: str, info: dict, roots: Roots, log) -> Optional[tuple]:
    tmp = sidecar_path[:-len(sidecar.SUFFIX)]
    final = tmp[:-len(dvr_files.TMP_SUFFIX)]
    root = _under_one(roots.dvr, tmp)
    paths.resolve_under(root, final)
    ctx = _hook_context(info["hook"])
    if os.path.exists(tmp):
        if os.path.lexists(final):
            raise RecoveryError(f"{final} exists already; not overwriting it")
        if info["format"] == "mp4":
            duration_ms, size = finish_mp4(tmp, tmp + dvr_files.INDEX_SUFFIX)
        else:
            duration_ms, size = finish_flv(tmp)
        os.rename(tmp, final)
        log.warning("recover: dvr file %s of client %s (%s/%s/%s) completed after an unclean exit, duration=%.3fs, "
                    "size=%d", final, ctx.client_id, ctx.vhost, ctx.app, ctx.stream, duration_ms / 1000.0, size)
    elif os.path.isfile(final):
        log.warning("recover: dvr file %s was completed but maybe not reported: reporting it", final)
    else:
        log.error("recover: dvr file %s is gone; forgetting it", tmp)
        sidecar.remove(sidecar_path, tmp + dvr_files.INDEX_SUFFIX)
        return None
    return "on_dvr", ctx


def finish_flv(path: str) -> tuple:
    """Cut an FLV after its last whole tag and fill in its metadata's duration and filesize; (duration_ms, size)."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        if size < flv.FILE_HEADER_SIZE + 4:
            f.truncate(0)
            f.write(flv.file_header(True, True))
            return 0, flv.FILE_HEADER_SIZE + 4
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = flv.scan(data)
            offsets = None
            if found.script_body >= 0:
                offsets = dvr_files.placeholder_offsets(data[found.script_body:found.script_body + found.script_size])
        f.truncate(found.end)
        if offsets is not None:
            duration, filesize = dvr_files.duration_and_size(found.duration_ms, found.end)
            f.seek(found.script_body + offsets[0])
            f.write(duration)
            f.seek(found.script_body + offsets[1])
            f.write(filesize)
        f.flush()
        os.fsync(f.fileno())
    return found.duration_ms, found.end


def finish_mp4(path: str, index_path: str) -> tuple:
    """Cut an MP4 after the last sample its index names, append the moov, fix the mdat size; (duration_ms, size)."""
    try:
        with open(index_path, "rb") as f:
            index = f.read()
    except FileNotFoundError:
        raise RecoveryError(f"no index {index_path}") from None
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        muxer = IndexedMp4Muxer.from_index(index, size)
        f.truncate(muxer.size)
        trailer = muxer.finish()
        for offset, data in trailer.patches:
            f.seek(offset)
            f.write(data)
        f.seek(0, os.SEEK_END)
        f.write(trailer.moov)
        f.flush()
        os.fsync(f.fileno())
        end = f.tell()
    return muxer.duration_ms, end


# ----------------------------------------------------------------------------- HLS

def _recover_hls(sidecar_path: str, info: dict, roots: Roots, cwd: str, log) -> Optional[tuple]:
    tmp = sidecar_path[:-len(sidecar.SUFFIX)]
    root = os.path.realpath(os.path.join(cwd, info["hls_path"]))
    if root not in roots.hls:
        raise RecoveryError(f"its hls_path {info['hls_path']!r} is not one the conf gives now")
    paths.resolve_under(root, tmp)
    template, values = info["hls_ts_file"], info["values"]
    ctx = _hook_context(info["hook"])
    if os.path.exists(tmp):
        with open(tmp, "r+b") as f:
            found = _scan_ts(f)
            f.truncate(found.end)
            f.flush()
            os.fsync(f.fileno())
        duration = found.duration_ms
        if found.pes == 0 or duration < hls.MIN_SEGMENT_MS:
            log.warning("recover: hls segment %s holds %dms of media, dropped", tmp, duration)
            os.unlink(tmp)
            sidecar.remove(sidecar_path)
            return None
        ts_rel = naming.expand(template, {**values, "duration": str(duration)})
        final = paths.join_under(root, ts_rel)
        os.replace(tmp, final)
    elif "[duration]" not in template and os.path.isfile(paths.join_under(root, naming.expand(template, values))):
        # Renamed, but the server died before the playlist or the hook: do those.
        ts_rel = naming.expand(template, values)
        final = paths.join_under(root, ts_rel)
        with open(final, "rb") as f:
            duration = _scan_ts(f).duration_ms
    else:
        log.error("recover: hls segment %s is gone; forgetting it", tmp)
        sidecar.remove(sidecar_path)
        return None
    m3u8_rel = info["m3u8_rel"]
    uri = hls.segment_uri(ts_rel, m3u8_rel, info["entry_prefix"])
    add_to_playlist(root, paths.join_under(root, m3u8_rel),
                    PlaylistEntry(uri, duration, bool(info["discontinuity"]), int(info["seq"])),
                    float(info["max_td_ms"]))
    log.warning("recover: hls segment %s of client %s (%s/%s/%s) completed after an unclean exit, duration=%.3fs",
                final, ctx.client_id, ctx.vhost, ctx.app, ctx.stream, duration / 1000.0)
    return "on_hls", hls.report_context(ctx, ctx.cwd, info["hls_path"], m3u8_rel, uri, ts_rel, duration,
                                        int(info["seq"]))


def _scan_ts(f):
    if os.fstat(f.fileno()).st_size == 0:
        return scan_segment(b"")
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return scan_segment(data)


def parse_playlist(text: str) -> List[PlaylistEntry]:
    """The segments of a live playlist as hls_playlist.py writes it."""
    entries: List[PlaylistEntry] = []
    first_seq, duration_ms, discontinuity = 0, 0, False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            first_seq = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration_ms = round(float(line[len("#EXTINF:"):].split(",")[0]) * 1000)
        elif line and not line.startswith("#"):
            entries.append(PlaylistEntry(line, duration_ms, discontinuity, first_seq + len(entries)))
            duration_ms, discontinuity = 0, False
    return entries


def add_to_playlist(root: str, m3u8_path: str, entry: PlaylistEntry, max_td_ms: float) -> bool:
    """Append `entry` to the playlist (made if missing) unless it lists that URI already; atomic as hls_playlist.py's."""
    try:
        with open(m3u8_path, encoding="utf-8", errors="surrogateescape") as f:
            entries = parse_playlist(f.read())
    except FileNotFoundError:
        entries = []
    if any(e.uri == entry.uri for e in entries):
        return False
    if entries and entry.sequence_no != entries[-1].sequence_no + 1:
        entry = dataclasses.replace(entry, discontinuity=True)   # a gap in the numbers is one in the media
    text = render_media_playlist(entries + [entry], max_td_ms)
    paths.make_dirs_under(root, os.path.dirname(m3u8_path))
    tmp = m3u8_path + ".temp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    os.replace(tmp, m3u8_path)
    return True
