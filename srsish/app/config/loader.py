"""Load an SRS-style (nginx-like) configuration file into a typed `Config` with SRS's defaults filled in.

How it works, in three stages:

1. `parser.parse_file` reads SRS's syntax into a tree of `Directive`; `parser.rewrite_legacy` rewrites
   SRS 1/2/7 spellings to the forms SPEC describes.
2. The tree is checked against `spec.SPEC` (strictly, like SRS: an unknown directive is an error) and
   turned into nested dicts of argument lists. Directives SRS knows but srsish does not implement
   (`IGNORED`) are dropped with a warning; SPEC directives srsish checks but does not act on
   (`NOT_IMPLEMENTED`) are kept, with a warning each. `SRS_*` environment variables then override the
   file, as in SRS 5.
3. configobj + `checks.VALIDATOR` type every value and fill every default from SPEC. Adding a directive
   is one line in SPEC. Units are SRS's: milliseconds (ints) for mw_latency, mr_latency and the publish
   timeouts; seconds (floats) for queue_length, hls_fragment, dvr_duration and http_hooks.timeout.

Choices made where SRS leaves room: a scalar directive takes exactly one argument; when a directive is
repeated the first one wins (as SRS's lookup does) and a warning is recorded; `http_api.listen` and
`http_server.listen` stay strings (`"1985"` or `"ip:port"`); `cfg.log_level` is `srs_log_level_v2`
when set, else `srs_log_level`; env-only mode (no file) listens on 1935 unless `SRS_LISTEN` says otherwise.
"""
import copy
import os
from typing import Mapping, Optional

from configobj import ConfigObj, flatten_errors
from validate import ValidateError

from srsish.app.config.checks import LIST_CHECKS, VALIDATOR
from srsish.app.config.config import Config
from srsish.app.config.parser import Directive, parse_file, rewrite_legacy
from srsish.app.config.spec import DEFAULT_VHOST, IGNORED, NOT_IMPLEMENTED, SPEC_TREE, not_implemented_name
from srsish.core.errors import ConfigError
from srsish.core.log import get_logger

__all__ = ["load_config", "spec_defaults"]


class _Tree:
    """Turns directives into nested dicts of argument lists, remembering where each value came from."""

    def __init__(self, check_only: bool = False):
        self.check_only = check_only   # `srsish -t`: SRS's full.conf (is_full on) may be checked, never run
        self.where: dict = {}  # key path -> "file:line" (or "env NAME")
        self.warnings: list = []
        self.unimplemented: list = []  # one warning per NOT_IMPLEMENTED directive the conf sets

    def _unimplemented(self, where: str, name: str) -> None:
        self.unimplemented.append(f'{where}: "{name}" is accepted but not implemented by srsish, ignored')

    def convert(self, dirs: list, spec, out: dict, keys: tuple = (), names: tuple = ()) -> None:
        for d in dirs:
            dotted = ".".join(names + (d.name,))
            if dotted in NOT_IMPLEMENTED and (d.name in spec.sections or d.name in spec.scalars):
                self._unimplemented(d.where, dotted)
            if d.name in spec.sections:
                self._section(d, spec[d.name], out, keys, names + (d.name,))
            elif d.name in spec.scalars:
                if d.children is not None:
                    raise ConfigError(f'{d.where}: "{dotted}" is not a block, expecting ";"')
                self._scalar(d, out, keys + (d.name,))
            elif dotted in ("vhost.security.allow", "vhost.security.deny"):
                self._rule(d, out, keys)
            elif dotted == "is_full" and d.args[:1] == ["on"] and self.check_only:
                self.warnings.append(f'{d.where}: "is_full on" marks SRS\'s full.conf: checked, but srsish will not run it')
            elif dotted == "is_full" and d.args[:1] == ["on"]:
                raise ConfigError(f'{d.where}: "is_full on" marks SRS\'s full.conf, a reference, not a config to run')
            elif dotted in IGNORED:
                self.warnings.append(f'{d.where}: "{dotted}" is not implemented by srsish, ignored')
            else:
                raise ConfigError(f'{d.where}: illegal directive "{dotted}"')

    def _section(self, d: Directive, spec, out: dict, keys: tuple, names: tuple) -> None:
        dotted = ".".join(names)
        if d.children is None:
            raise ConfigError(f'{d.where}: "{dotted}" must be a block: {d.name} {{ ... }}')
        many = "__many__" in spec.sections
        if len(d.args) != (1 if many else 0):
            need = "exactly one name" if many else "no arguments"
            raise ConfigError(f'{d.where}: "{dotted}" takes {need} before "{{", got {len(d.args)}')
        if many:
            out, key, spec = out.setdefault(d.name, {}), d.args[0], spec["__many__"]
            keys = keys + (d.name,)
        else:
            key = d.name
        if key in out:
            self.warnings.append(f'{d.where}: duplicate "{dotted} {" ".join(d.args)}" ignored, the first one wins')
            return
        out[key] = {}
        self.convert(d.children, spec, out[key], keys + (key,), names)

    def _scalar(self, d: Directive, out: dict, keys: tuple) -> None:
        if keys[-1] in out:
            self.warnings.append(f'{d.where}: duplicate "{d.name}" ignored, the first one wins')
            return
        out[keys[-1]] = list(d.args)
        self.where[keys] = d.where

    def _rule(self, d: Directive, out: dict, keys: tuple) -> None:
        if len(d.args) != 2 or d.args[0] not in ("publish", "play"):
            raise ConfigError(f'{d.where}: "vhost.security.{d.name}" expects: {d.name} publish|play all|<ip>|<cidr>;')
        out.setdefault("rules", []).append(" ".join([d.name] + d.args))
        self.where.setdefault(keys + ("rules",), d.where)

    def apply_env(self, out: dict, env: Mapping) -> None:
        """SRS 5 env overrides: SRS_ + the dotted path upper-cased; SRS_VHOST_* hits every vhost."""
        for name, full_path, is_list in _ENV_NAMES:
            path = full_path
            value = env.get(name, "")
            if not value:  # SRS treats an empty variable as unset
                continue
            args = value.split() if is_list else [value]
            targets = [(out, ())]
            if path[0] == "vhost":
                vhosts = out.get("vhost", {})
                targets = [(v, ("vhost", n)) for n, v in vhosts.items()]
                path = path[1:]
            for node, prefix in targets:
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = args
                self.where[prefix + path] = f"env {name}"
            unimplemented = not_implemented_name(".".join(full_path))
            if unimplemented and targets:
                self._unimplemented(f"env {name}", unimplemented)


def _env_names(spec, path: tuple = ()) -> list:
    """(variable, key path, takes a list) for every typed directive; srs_log_* also as SRS_LOG_*."""
    out = []
    for key in spec.scalars:
        check = spec[key].split("(")[0]
        if check == "rules":  # SRS has no env form for allow/deny lists
            continue
        full, is_list = path + (key,), check in LIST_CHECKS
        if not path and key.startswith("srs_"):  # the alias first, so SRS_SRS_LOG_* wins when both are set
            out.append(("SRS_" + key[4:].upper(), full, is_list))
        out.append(("SRS_" + "_".join(full).upper(), full, is_list))
    for sec in spec.sections:
        if sec == "__many__":
            out.extend(_env_names(spec[sec], path))
        else:
            out.extend(_env_names(spec[sec], path + (sec,)))
    return out


_ENV_NAMES = _env_names(SPEC_TREE)


def _typed(raw: dict, tree: _Tree) -> dict:
    conf = ConfigObj(raw, configspec=SPEC_TREE, interpolation=False)
    results = conf.validate(VALIDATOR, preserve_errors=True)
    problems = []
    for sections, key, error in flatten_errors(conf, results):
        if key is None or not isinstance(error, ValidateError):
            continue
        keys = tuple(sections) + (key,)
        names = keys[:1] + keys[2:] if keys[0] == "vhost" else keys
        where = tree.where.get(keys, "default")
        problems.append(f'{where}: invalid value for "{".".join(names)}": {error}')
    if problems:
        raise ConfigError("\n".join(problems))
    return conf.dict()


def _resolve_vhost(name: str, v: dict, root: dict) -> None:
    """Fill what SRS derives from elsewhere: the name, chunk_size from the global, mw_msgs from min_latency."""
    v["name"] = name
    if v["chunk_size"] is None:
        v["chunk_size"] = root["chunk_size"]
    if v["play"]["mw_msgs"] is None:
        v["play"]["mw_msgs"] = 0 if v["min_latency"] else 8


def load_config(path: Optional[str], env: Optional[Mapping[str, str]] = None, check_only: bool = False) -> Config:
    """Parse, check and type the config at `path` (None, or SRS_ENV_ONLY set: from `env` only).

    `check_only` (srsish -t) also accepts SRS's reference conf, full.conf (`is_full on`), with a warning.
    """
    env = os.environ if env is None else env
    path = env.get("SRS_CONFIG_FILE") or path
    env_only = path is None or bool(env.get("SRS_ENV_ONLY"))
    tree = _Tree(check_only)
    raw: dict = {}
    if env_only:
        path = None
        # As SRS in env-only mode: foreground, logs to the console, a default vhost, port 1935.
        raw = {"daemon": ["off"], "srs_log_tank": ["console"], "listen": ["1935"], "vhost": {DEFAULT_VHOST: {}}}
    else:
        directives = parse_file(path)
        if not directives:
            raise ConfigError(f"{path}:1: the config is empty, it has no directive")
        rewrite_legacy(directives, tree.warnings)
        tree.convert(directives, SPEC_TREE, raw)
    tree.apply_env(raw, env)
    root = _typed(raw, tree)
    if root["listen"] is None:
        raise ConfigError(f'{path}: directive "listen" is required, e.g. "listen 1935;"')
    for name, v in root["vhost"].items():
        _resolve_vhost(name, v, root)
    log = get_logger()
    for w in tree.warnings + tree.unimplemented:
        log.warning("config: %s", w)
    return Config(path, root, tree.warnings, tree.unimplemented)


_DEFAULTS: Optional[dict] = None  # the typed tree of a conf that sets nothing, made on first use


def spec_defaults(dotted: str) -> dict:
    """A fresh copy of the SPEC defaults of one block, e.g. "vhost.http_hooks" (for code that builds a conf by hand)."""
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = _typed({"listen": ["1935"], "vhost": {DEFAULT_VHOST: {}}}, _Tree())
    node = _DEFAULTS
    parts = dotted.split(".")
    if parts[0] == "vhost":
        node = node["vhost"][DEFAULT_VHOST]
        parts = parts[1:]
    for part in parts:
        node = node[part]
    if not isinstance(node, dict):
        raise KeyError(f"{dotted!r} is not a block")
    return copy.deepcopy(node)
