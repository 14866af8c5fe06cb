"""The srsish command line: `srsish -c conf/srs.conf` runs the server, `srsish -t -c FILE` checks a conf."""
import argparse
import logging
import os
import sys
from typing import List, Optional

from srsish import SIGNATURE


def _parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="srsish", description=f"{SIGNATURE}: a live-streaming origin server "
                                                            "following SRS conventions")
    p.add_argument("-c", dest="config", default=os.environ.get("SRS_CONFIG_FILE"),
                   help="the SRS-style config file (default: $SRS_CONFIG_FILE, else conf/srs.conf)")
    p.add_argument("-t", dest="test", action="store_true", help="check the config file and exit")
    p.add_argument("-e", dest="env_only", action="store_true", help="no config file: take everything from SRS_* env")
    p.add_argument("-v", "-V", "--version", dest="version", action="store_true", help="print the version and exit")
    return p.parse_args(argv)


def _daemonize() -> None:
    """Detach as SRS does with `daemon on;`: fork twice, new session, stdio to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _detach_message(config, path: Optional[str]) -> str:
    """Where a daemon's log and pid go, said before it detaches (SRS's default conf detaches silently)."""
    pid = os.path.abspath(config.pid)
    if config.log_tank == "file" and config.log_file:
        logs = f"the log to {os.path.abspath(config.log_file)}"
    else:
        logs = "no log (srs_log_tank console, and a daemon has no console: set srs_log_tank file;)"
    return (f"srsish: daemon on: running in the background with {logs}, the pid in {pid} "
            f"(stop it with: kill $(cat {pid})); set daemon off; in {path or 'the conf'} to stay in the foreground")


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse_args(argv)
    if args.version:
        print(SIGNATURE)
        return 0
    # gevent's monkey patching happens in exactly this one place, before anything else imports
    # modules that create sockets, locks or threads. Not ssl: patching imports it, and a server
    # without TLS would carry it; the TLS code uses gevent.ssl itself (http/tls.py, hooks/transport.py).
    from gevent import monkey
    monkey.patch_all(ssl=False)
    from srsish.app.config import ConfigError, load_config
    from srsish.core.log import LOGGER_NAME
    # load_config logs the conf's warnings (a reload's land in the log); at start-up they are printed (-t) or
    # logged (run) below, once, so nothing may print them before the log is set up.
    logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
    path = None if (args.env_only or os.environ.get("SRS_ENV_ONLY")) else (args.config or "conf/srs.conf")
    try:
        config = load_config(path, check_only=args.test)
    except (ConfigError, OSError) as e:
        print(f"srsish: config error: {e}", file=sys.stderr)
        return 1
    if args.test:
        for w in config.all_warnings:
            print(f"srsish: warning: {w}", file=sys.stderr)
        for w in _exposure_warnings(config):
            print(f"srsish: warning: {w}", file=sys.stderr)
        from srsish.app.hooks.outbox import check_path
        from srsish.app.http.tls import tls_problems
        problems = [p for p in [check_path(config.hook_outbox)] if p]
        problems += tls_problems({s: config.section(s) for s in ("http_server", "http_api")})
        if problems:
            for problem in problems:
                print(f"srsish: config error: {problem}", file=sys.stderr)
            return 1
        print(f"srsish: the configuration file {path or '(env)'} syntax is ok", file=sys.stderr)
        print(f"srsish: configuration file {path or '(env)'} test is successful", file=sys.stderr)
        return 0
    if config.work_dir and config.work_dir not in (".", "./"):
        os.chdir(config.work_dir)
    if config.daemon:
        print(_detach_message(config, path), file=sys.stderr, flush=True)
        _daemonize()
    return _run(config)


def _exposure_warnings(config) -> List[str]:
    """An HTTP API that listens beyond loopback without `auth`: anyone who reaches it can kick clients."""
    import ipaddress
    from srsish.app.config import parse_endpoint
    api = config.section("http_api")
    if not api["enabled"] or api["auth"]["enabled"]:
        return []
    listens = [str(api["listen"])] + ([str(api["https"]["listen"])] if api["https"]["enabled"] else [])
    out = []
    for listen in listens:
        ip, port = parse_endpoint(listen)
        if not ipaddress.ip_address(ip).is_loopback:
            out.append(f'http_api listens at {ip}:{port} without "auth": anyone who reaches it can list, kick and '
                       f'(with raw_api) reload; set http_api.auth, or listen 127.0.0.1:{port}')
    return out


def _run(config) -> int:
    from srsish.app.hooks.outbox import OutboxError
    from srsish.app.server import Server
    from srsish.core.log import get_logger, setup_logging
    setup_logging(config.log_tank, config.log_file, config.log_level)
    log = get_logger()
    for w in config.all_warnings:
        log.warning("%s", w)
    try:
        server = Server(config)
        server.write_pid_file()
        server.start()
    except (OSError, RuntimeError, OutboxError) as e:
        log.error("cannot start: %s", e)
        print(f"srsish: cannot start: {e}", file=sys.stderr)
        return 1
    log.info("%s started, pid=%d, server_id=%s, service_id=%s", SIGNATURE, os.getpid(), server.server_id,
             server.service_id)
    server.install_signals()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
