"""The dependency direction is one way: main -> app -> protocol -> kernel -> core (style.md section 2)."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "srsish"
ORDER = ["core", "kernel", "protocol", "app"]
# Pure layers: no sockets, no greenlets, no clock (time is passed in).
FORBIDDEN_IN_PURE = {"gevent", "socket", "time", "threading", "asyncio", "select"}


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def layer_of(module: str):
    parts = module.split(".")
    if parts[0] != "srsish" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


def test_layers_only_import_downwards():
    bad = []
    for layer in ORDER:
        for path in (ROOT / layer).rglob("*.py"):
            for mod in imports_of(path):
                target = layer_of(mod)
                if target and ORDER.index(target) > ORDER.index(layer):
                    bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, bad


def test_pure_layers_do_no_io():
    bad = []
    for layer in ("core", "kernel", "protocol"):
        for path in (ROOT / layer).rglob("*.py"):
            if layer == "core" and path.name == "log.py":
                continue  # logging setup is the one I/O the core owns
            for mod in imports_of(path):
                if mod.split(".")[0] in FORBIDDEN_IN_PURE:
                    bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, bad


def test_leaves_do_not_import_sources_or_connections():
    for leaf in ("config.py", "http_hooks.py"):
        mods = set(imports_of(ROOT / "app" / leaf))
        assert not {m for m in mods if m.startswith("srsish.app.") and m != "srsish.app.async_worker"}, mods
