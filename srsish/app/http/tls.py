"""TLS for the HTTPS listeners: load a key and certificate into a server context, with an error that names the files."""
from typing import TYPE_CHECKING, Dict, List, Tuple

if TYPE_CHECKING:
    import ssl

__all__ = ["TlsError", "https_blocks", "load_server_context", "tls_problems"]


class TlsError(OSError):
    """A key or certificate that cannot be loaded; the message names the directive and the file."""


def load_server_context(key: str, cert: str, where: str) -> "ssl.SSLContext":
    """A server-side context for `cert` and `key` (PEM files); TlsError says which and why when they do not load."""
    # gevent's SSLContext makes cooperative sockets (main.py does not monkey-patch ssl), and it is
    # imported here, not at the top: a server without HTTPS does not load OpenSSL's TLS (about 1 MiB).
    from gevent import ssl
    for what, path in (("key", key), ("cert", cert)):
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise TlsError(f"{where}.{what} {path}: cannot read: {e.strerror}") from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as e:
        raise TlsError(f"{where}: cannot use cert {cert} with key {key}: {e}") from None
    return ctx


def https_blocks(root_sections: Dict[str, dict]) -> List[Tuple[str, dict]]:
    """The enabled `https` blocks as (directive name, block), e.g. ("http_server.https", {...})."""
    out = []
    for section in ("http_server", "http_api"):
        conf = root_sections[section]
        if conf["enabled"] and conf["https"]["enabled"]:
            out.append((f"{section}.https", conf["https"]))
    return out


def tls_problems(root_sections: Dict[str, dict]) -> List[str]:
    """What is wrong with the key and certificate files of every enabled https block (for `srsish -t`)."""
    problems: List[str] = []
    for where, https in https_blocks(root_sections):
        try:
            load_server_context(https["key"], https["cert"], where)
        except TlsError as e:
            problems.append(str(e))
    return problems

