"""HTTPS listeners for http_server and http_api, with a certificate made in the test (trustme) and real clients.

Proven here: curl fetches a static file and the API over TLS, verifying the certificate against the test CA;
ffmpeg plays HTTP-FLV over HTTPS (the writer's joined-write path for TLS sockets) and the recording is H.264;
the plain listeners keep working beside them; a missing key is a clear start-up error and an `srsish -t` error.
"""
import json
import socket
import subprocess

import pytest
import trustme

from helpers import peers
from helpers.http_util import http_remux_block, wait_http_port
from helpers.server import run_srsish_cli, srsish_conf
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def tls_files(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    files = {"ca": tmp_path / "ca.pem", "key": tmp_path / "server.key", "cert": tmp_path / "server.crt"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    return files


def https_conf(root, http_port, https_port, api_port, api_https_port, key, cert) -> str:
    return f"""
http_server {{
    enabled on;
    listen 127.0.0.1:{http_port};
    dir {root};
    https {{
        enabled on;
        listen 127.0.0.1:{https_port};
        key {key};
        cert {cert};
    }}
}}
http_api {{
    enabled on;
    listen 127.0.0.1:{api_port};
    https {{
        enabled on;
        listen 127.0.0.1:{api_https_port};
        key {key};
        cert {cert};
    }}
}}
"""


def curl(url, ca, *extra):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(ca), *extra, url],
                          capture_output=True, text=True, timeout=20)


def test_files_api_and_flv_over_https(make_server, procs, media, tmp_path, tls_files):
    root = tmp_path / "html"
    root.mkdir()
    (root / "hello.txt").write_text("hello over tls\n")
    ports = [free_port() for _ in range(4)]
    srv = make_server(global_extra=https_conf(root, *ports, tls_files["key"], tls_files["cert"]),
                      vhost_extra=http_remux_block())
    for p in ports:
        wait_http_port(srv, p)
    http_port, https_port, api_port, api_https_port = ports

    got = curl(f"https://localhost:{https_port}/hello.txt", tls_files["ca"])
    assert got.returncode == 0 and got.stdout == "hello over tls\n", got.stderr
    api = curl(f"https://localhost:{api_https_port}/api/v1/versions", tls_files["ca"])
    assert api.returncode == 0 and json.loads(api.stdout)["code"] == 0, api.stderr
    # Without the CA the certificate is refused: it is really TLS, with the test's certificate.
    assert curl(f"https://localhost:{https_port}/hello.txt", tmp_path / "nothing.pem").returncode != 0
    plain = curl(f"http://127.0.0.1:{http_port}/hello.txt", tls_files["ca"])
    assert plain.stdout == "hello over tls\n"
    assert "HTTPS listen at tcp://127.0.0.1:%d for static" % https_port in srv.log_text()

    peers.ffmpeg_publish(procs, srv.url("tls"), media.clip.path, loop=True)
    wait_for(lambda: "start publish" in srv.log_text(), 15, message="publish")
    out = str(tmp_path / "tls.flv")
    play = peers.ffmpeg_play(procs, f"https://localhost:{https_port}/live/tls.flv", out, duration=2,
                             extra_input=("-ca_file", str(tls_files["ca"]), "-tls_verify", "1"))
    assert play.wait(30) == 0, play.output()
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", out],
                           capture_output=True, text=True, timeout=30)
    assert "h264" in probe.stdout.split(), probe.stdout + probe.stderr


def test_a_stalled_tls_handshake_holds_up_nobody_else(make_server, tmp_path, tls_files):
    """The handshake runs on the connection's own greenlet with a cooperative socket: a client that
    connects and sends nothing (or a byte of a ClientHello) must not stop the next one being served."""
    root = tmp_path / "html"
    root.mkdir()
    (root / "hello.txt").write_text("still served\n")
    ports = [free_port() for _ in range(4)]
    srv = make_server(global_extra=https_conf(root, *ports, tls_files["key"], tls_files["cert"]))
    for p in ports:
        wait_http_port(srv, p)
    stalled = [socket.create_connection(("127.0.0.1", ports[1]), timeout=5) for _ in range(2)]
    stalled[1].sendall(b"\x16\x03")   # the start of a ClientHello, never finished
    try:
        got = curl(f"https://localhost:{ports[1]}/hello.txt", tls_files["ca"])
        assert got.returncode == 0 and got.stdout == "still served\n", got.stderr
        api = curl(f"http://127.0.0.1:{ports[2]}/api/v1/versions", tls_files["ca"])
        assert api.returncode == 0 and json.loads(api.stdout)["code"] == 0, api.stderr
    finally:
        for s in stalled:
            s.close()


def test_a_missing_key_is_a_start_and_check_error(tmp_path, tls_files):
    root = tmp_path / "html"
    root.mkdir()
    ports = [free_port() for _ in range(4)]
    conf = srsish_conf(free_port(), global_extra=https_conf(root, *ports, tmp_path / "missing.key", tls_files["cert"]))
    (tmp_path / "x.conf").write_text(conf)
    (tmp_path / "objs").mkdir()
    checked = run_srsish_cli(["-t", "-c", "x.conf"], cwd=str(tmp_path))
    assert checked.returncode == 1
    assert "config error: http_server.https.key %s: cannot read: No such file or directory" % (
        tmp_path / "missing.key") in checked.stdout
    started = run_srsish_cli(["-c", "x.conf"], cwd=str(tmp_path))
    assert started.returncode == 1
    assert "cannot start: http_server.https.key" in started.stdout
