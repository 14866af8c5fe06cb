"""Paths under a root: a path built from outside input must stay the root or inside it, symlinks resolved."""
import os


class OutsideRoot(ValueError):
    """A path that leaves its root (as written or once symlinks are resolved), or that cannot be a path."""


def resolve_under(root: str, path: str) -> str:
    """`path` with symlinks resolved; OutsideRoot unless, as written and resolved, it is `root` or inside it."""
    if "\x00" in path:
        raise OutsideRoot(f"NUL in path {path!r}")
    for candidate, base in ((os.path.abspath(path), os.path.abspath(root)),
                            (os.path.realpath(path), os.path.realpath(root))):
        if candidate != base and not candidate.startswith(base.rstrip(os.sep) + os.sep):
            raise OutsideRoot(f"{path!r} is {candidate!r}, outside the root {base!r}")
    return os.path.realpath(path)


def join_under(root: str, rel: str) -> str:
    """`rel` (`/`-separated, a leading `/` ignored) resolved under `root`; OutsideRoot if it has a `..` part."""
    parts = [p for p in rel.split("/") if p]
    if ".." in parts:
        raise OutsideRoot(f"'..' in path {rel!r}")
    return resolve_under(root, os.path.join(root, *parts))


def make_dirs_under(root: str, directory: str) -> None:
    """Create `root`, then `directory` one level at a time, each level checked to resolve under `root`.

    Level by level, so a symlink met on the way is refused before anything is created through it.
    """
    os.makedirs(root, exist_ok=True)
    rel = os.path.relpath(directory, root)
    if rel == os.curdir:
        return
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise OutsideRoot(f"folder {directory!r} is outside the root {root!r}")
    current = root
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        try:
            os.mkdir(current)
        except FileExistsError:
            pass
        resolve_under(root, current)
