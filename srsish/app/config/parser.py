"""Stage 1 of loading a conf: SRS's syntax into a tree of `Directive`, includes spliced in, legacy forms rewritten.

The syntax rules are SRS's: a directive's arguments may not span lines, `}` may not follow pending
arguments, braces must balance, quotes must close, `include FILE;` splices a file in (FILE is relative to
the current directory, as in SRS). Legacy SRS 1/2 forms are then rewritten to the current ones (flat
`gop_cache` moves into `play {}`, `refer a b;` into `refer { all }`, ...), and SRS 7's
`rtmp { listen; chunk_size; }` is read as the root-level `listen` and `chunk_size`.
"""
import os
from dataclasses import dataclass
from typing import Optional

from srsish.core.errors import ConfigError

__all__ = ["Directive", "parse_file", "rewrite_legacy"]

# Legacy flat vhost-level directives (SRS 1/2) and the block and name they live in now.
LEGACY_MOVES = {
    **{n: ("play", n) for n in ("gop_cache", "queue_length", "mw_latency", "time_jitter", "atc", "atc_auto",
                                "mix_correct", "send_min_interval", "reduce_sequence_header",
                                "gop_cache_max_frames")},
    "mr": ("publish", "mr"),
    "mr_latency": ("publish", "mr_latency"),
    "publish_1stpkt_timeout": ("publish", "firstpkt_timeout"),
    "publish_normal_timeout": ("publish", "normal_timeout"),
    "refer": ("refer", "all"),
    "refer_play": ("refer", "play"),
    "refer_publish": ("refer", "publish"),
    "forward": ("forward", "destination"),
    **{n: ("cluster", n) for n in ("mode", "origin", "token_traverse", "debug_srs_upnode")},
}


@dataclass
class Directive:
    """One `name args...;` or `name args... { children }` with where it was written."""
    name: str
    args: list
    file: str
    line: int
    children: Optional[list] = None  # None for a simple directive, a list for a block

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _tokens(text: str):
    """Yield (kind, value, line): kind is word, ;, {, }, eol, or error (value is the reason)."""
    for lineno, line in enumerate(text.split("\n"), 1):
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c.isspace():
                i += 1
            elif c == "#":  # a comment only at the start of a token, so `#cccccc` inside a value stays
                break
            elif c in ";{}":
                yield c, c, lineno
                i += 1
            elif c in "\"'":
                end = line.find(c, i + 1)
                if end < 0:
                    yield "error", f"unterminated quote {c}", lineno
                    return
                yield "word", line[i + 1:end], lineno
                i = end + 1
                if i < n and not line[i].isspace() and line[i] not in ";{":
                    yield "error", f'unexpected "{line[i]}" after a quoted argument', lineno
                    return
            else:
                j = i
                while j < n and not line[j].isspace() and line[j] not in ";{":
                    j += 1
                yield "word", line[i:j], lineno
                i = j
        yield "eol", "", lineno


def parse_file(path: str, _including: tuple = ()) -> list:
    """Parse one file (and its includes) into a list of top-level `Directive`s."""
    real = os.path.realpath(path)
    if real in _including:
        raise ConfigError(f'{path}: include cycle, "{path}" includes itself')
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from None

    def fail(line: int, reason: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {reason}" + (f' (directive "{args[0]}")' if args else ""))

    root: list = []
    children, stack, args, start = root, [], [], 0
    for kind, value, line in _tokens(text):
        if kind == "error":
            raise fail(line, value)
        if kind == "word":
            start = start if args else line
            args.append(value)
        elif kind == "eol":
            if args:
                raise fail(line, 'unexpected end of line, expecting ";" or "{"')
        elif kind == ";":
            if not args:
                raise fail(line, 'unexpected ";"')
            d = Directive(args[0], args[1:], path, start)
            children.extend(_include(d, _including + (real,)) if d.name == "include" else [d])
            args = []
        elif kind == "{":
            if not args or args[0] == "include":
                raise fail(line, 'unexpected "{"')
            d = Directive(args[0], args[1:], path, start, [])
            children.append(d)
            stack.append(d)
            children, args = d.children, []
        elif args:  # "}" right after arguments: the ";" is missing
            raise fail(line, 'unexpected "}", expecting ";"')
        elif not stack:
            raise fail(line, 'unexpected "}", no block is open')
        else:
            stack.pop()
            children = stack[-1].children if stack else root
    if stack:
        raise ConfigError(f'{stack[-1].where}: unexpected end of file, "{stack[-1].name}" block is not closed')
    return root


def _include(d: Directive, including: tuple) -> list:
    if not d.args:
        raise ConfigError(f'{d.where}: "include" needs a file name')
    out = []
    for name in d.args:  # relative to the current directory, not to this file (as SRS does)
        if not os.path.isfile(name):
            raise ConfigError(f'{d.where}: include "{name}": no such file')
        out.extend(parse_file(name, including))
    return out


def rewrite_legacy(root: list, warnings: list) -> None:
    """Rewrite SRS 1/2/7 spellings to the SRS 3-6 forms that SPEC describes."""
    for d in list(root):
        if d.name == "http_stream":
            d.name = "http_server"
            warnings.append(f'{d.where}: legacy "http_stream" read as "http_server"')
        if d.name == "rtmp" and d.children is not None:  # SRS 7 moved listen/chunk_size into rtmp {}
            root.remove(d)
            for c in d.children:
                _check_known(c, ("rtmp",), ("listen", "chunk_size"))
                if not any(x.name == c.name for x in root):  # as SRS 7, a root-level one wins
                    root.append(c)
        if d.name == "vhost" and d.children is not None:
            for c in list(d.children):
                _rewrite_vhost_child(d, c, warnings)


def _rewrite_vhost_child(vhost: Directive, c: Directive, warnings: list) -> None:
    name = c.name
    if name == "http":
        c.name = "http_static"
        warnings.append(f'{c.where}: legacy "vhost.http" read as "vhost.http_static"')
    elif name == "http_remux" and c.children:
        c.children[:] = [x for x in c.children if x.name != "hstrs"]  # SRS 3 made hstrs always on
    elif name in LEGACY_MOVES and c.children is None:
        block, new = LEGACY_MOVES[name]
        vhost.children.remove(c)
        target = _block(vhost, block, c)
        if block in ("refer", "forward"):
            _set(target.children, Directive("enabled", ["on"], c.file, c.line))
        _set(target.children, Directive(new, c.args, c.file, c.line))
        warnings.append(f'{c.where}: legacy "vhost.{name}" read as "vhost.{block}.{new}"')
    elif name == "mr" and c.children is not None:  # SRS 2: mr { enabled; latency; }
        vhost.children.remove(c)
        target = _block(vhost, "publish", c)
        for x in c.children:
            _check_known(x, ("vhost", "mr"), ("enabled", "latency"))
            new = "mr" if x.name == "enabled" else "mr_latency"
            _set(target.children, Directive(new, x.args, x.file, x.line))
        warnings.append(f'{c.where}: legacy "vhost.mr" block read as "vhost.publish.mr/mr_latency"')


def _check_known(d: Directive, path: tuple, names: tuple) -> None:
    if d.name not in names:
        raise ConfigError(f'{d.where}: illegal directive "{".".join(path + (d.name,))}"')


def _block(parent: Directive, name: str, near: Directive) -> Directive:
    """The first `name {}` block under `parent`, created at the end when there is none."""
    for c in parent.children:
        if c.name == name and c.children is not None:
            return c
    block = Directive(name, [], near.file, near.line, [])
    parent.children.append(block)
    return block


def _set(children: list, d: Directive) -> None:
    """Replace the first directive of the same name (legacy forms win, as in SRS), else append."""
    for i, c in enumerate(children):
        if c.name == d.name:
            children[i] = d
            return
    children.append(d)
