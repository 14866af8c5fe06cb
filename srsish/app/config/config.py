"""Config: a loaded configuration, typed, with every SPEC default filled in and small getters for derived values."""
import os
from typing import Optional

from srsish.app.config.spec import DEFAULT_VHOST

__all__ = ["Config"]


class Config:
    """A loaded configuration: typed globals, sections and vhosts, every SRS default filled in.

    `warnings` are about the conf's form (legacy spellings, duplicates, directives of SRS features srsish
    lacks); `unimplemented` names each directive srsish accepts and type-checks but does not act on.
    """

    def __init__(self, path: Optional[str], root: dict, warnings: list, unimplemented: Optional[list] = None):
        self.path = path
        self.root = root  # the whole typed tree, plain dicts; root["vhost"][name] are the resolved vhosts
        self.warnings = warnings
        self.unimplemented: list = unimplemented or []
        self.listen: list = root["listen"]
        self.max_connections: int = root["max_connections"]
        self.chunk_size: int = root["chunk_size"]
        self.pid: str = root["pid"]
        self.daemon: bool = root["daemon"]
        self.log_tank: str = root["srs_log_tank"]
        self.log_file: str = root["srs_log_file"]
        self.log_level: str = root["srs_log_level_v2"] or root["srs_log_level"]
        self.server_id: Optional[str] = root["server_id"]
        self.work_dir: str = root["work_dir"]
        self.utc_time: bool = root["utc_time"]

    @property
    def hook_outbox(self) -> str:
        """The hook outbox database: `hook_outbox`, else srsish.hooks.db in the pid file's folder (so two
        servers with their own pid files never share one)."""
        return self.root["hook_outbox"] or os.path.join(os.path.dirname(self.pid) or ".", "srsish.hooks.db")

    def section(self, name: str) -> dict:
        """A global section (http_api, http_server, heartbeat, stats) with defaults filled."""
        if name == "vhost" or not isinstance(self.root.get(name), dict):
            raise KeyError(f"no global section {name!r}")
        return self.root[name]

    def vhost(self, name: str) -> Optional[dict]:
        """The vhost `name` if configured (even when disabled: check "enabled"), else __defaultVhost__, else None."""
        vhosts = self.root["vhost"]
        return vhosts.get(name) or vhosts.get(DEFAULT_VHOST)

    def hooks_conf(self, vhost_name: str) -> Optional[dict]:
        """The http_hooks of vhost(vhost_name) as this conf says (a reload swaps the Config), else None."""
        vhost = self.vhost(vhost_name)
        return vhost["http_hooks"] if vhost is not None else None

    @property
    def http_server_dir(self) -> str:
        """http_server.dir: the root of the file server (static files, and the playlists HLS play sessions read)."""
        return self.root["http_server"]["dir"]

    @property
    def vhost_names(self) -> list:
        return list(self.root["vhost"])

    @property
    def all_warnings(self) -> list:
        """Every warning the load recorded, form first, then each unimplemented directive."""
        return self.warnings + self.unimplemented
