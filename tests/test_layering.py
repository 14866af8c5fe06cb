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


# The rooms of app/ and the rooms each may import. Leaves (config, hooks, stats) import no other room;
# live fan-out knows nothing of protocols; origin features hang off a publish session; the RTMP and HTTP
# sides use those; server.py wires everything together. No whitelist: a new import across rooms is a design
# change and belongs here.
APP_ROOMS = {
    "access": set(),
    "config": set(),
    "hooks": set(),
    "stats": set(),
    "clients": set(),
    "live": set(),
    "cluster": {"live"},
    "origin": {"cluster", "hooks", "live"},
    "rtmp": {"access", "clients", "config", "hooks", "live", "origin"},
    "http": {"access", "clients", "config", "hooks", "live", "stats"},
    "server": {"access", "clients", "cluster", "config", "hooks", "http", "live", "origin", "rtmp", "stats"},
}


def room_of(module: str):
    parts = module.split(".")
    if parts[:2] != ["srsish", "app"] or len(parts) < 3:
        return None
    return parts[2]


def test_app_rooms_import_only_what_they_may():
    app = ROOT / "app"
    bad = []
    for path in app.rglob("*.py"):
        rel = path.relative_to(app)
        room = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if room == "__init__":
            continue
        assert room in APP_ROOMS, f"app/{rel}: a room that tests/test_layering.py does not know"
        for mod in imports_of(path):
            target = room_of(mod)
            if target and target != room and target not in APP_ROOMS[room]:
                bad.append(f"app/{rel} ({room}) imports {mod}")
    assert not bad, bad
