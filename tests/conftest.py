"""Shared pytest fixtures. The e2e fixtures (server, peers, media) live here so any
test package can use them; they cost nothing unless a test asks for them.

Environment:
  SRSISH_E2E_SERVER=nginx  run the server fixtures against nginx-rtmp instead of
                           srsish (harness development only: srsish-specific tests
                           will fail there; the suite targets srsish).
"""
import os

import pytest

from helpers.media import make_media
from helpers.procs import ProcessTracker
from helpers.server import SERVER_KINDS


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end test driving a real server process and real peers")
    config.addinivalue_line("markers", "slow: takes more than ~15 s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """The session's test clips (see helpers.media.MediaSet), made once with ffmpeg."""
    return make_media(str(tmp_path_factory.mktemp("media")))


@pytest.fixture
def procs(tmp_path, request):
    """Tracker for every peer process a test starts; all are ended at teardown."""
    tracker = ProcessTracker(str(tmp_path / "peers"))
    yield tracker
    tracker.cleanup()
    if _failed(request):
        print("\n===== peer logs =====\n" + tracker.dump())


@pytest.fixture
def server_kind() -> str:
    kind = os.environ.get("SRSISH_E2E_SERVER", "srsish")
    assert kind in SERVER_KINDS, "SRSISH_E2E_SERVER must be one of %s" % sorted(SERVER_KINDS)
    return kind


@pytest.fixture
def make_server(tmp_path, server_kind, request):
    """Factory: make_server(**kw) starts a server (SrsishProcess kwargs: max_connections,
    firstpkt_timeout, normal_timeout, global_extra, vhost_extra, play_extra,
    publish_extra, daemon, conf_text, allow_traceback) in its own dir under tmp_path
    and waits for its port. Teardown: SIGTERM (SIGKILL after 5 s), then the log must
    hold no Python traceback."""
    started = []

    def factory(**kw):
        cls = SERVER_KINDS[server_kind]
        srv = cls(str(tmp_path / ("server%d" % len(started))), **kw)
        started.append(srv)
        srv.start()
        return srv

    yield factory
    errors = []
    for srv in started:
        srv.stop()
        if _failed(request):
            print("\n===== %s diagnostics =====\n%s" % (srv.kind, srv.diagnostics()))
        try:
            srv.check_no_traceback()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def server(make_server):
    """A started server with the default test conf."""
    return make_server()
