"""Ports and bounded waits."""
import socket
import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel just handed out (bind to 0), free again on return."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout).close()
        return True
    except OSError:
        return False


def wait_for(cond: Callable[[], T], timeout: float, interval: float = 0.05,
             message: str = "condition") -> T:
    """Poll `cond()` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message))
        time.sleep(interval)


def file_size(path: str) -> int:
    try:
        import os
        return os.path.getsize(path)
    except OSError:
        return 0


def wait_file_grows(path: str, beyond: int = 0, timeout: float = 10.0) -> int:
    """Wait until `path` is larger than `beyond` bytes; returns its size."""
    return wait_for(lambda: file_size(path) > beyond and file_size(path), timeout,
                    message="%s to grow beyond %d bytes" % (path, beyond))


def recv_closed(sock: socket.socket, timeout: float) -> Optional[bool]:
    """True if the peer closed `sock` (EOF/reset) within `timeout`, draining any data."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


# ----------------------------------------------------------------------------- /proc/net/tcp
_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
               "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
               "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def tcp_sockets(local_port: int) -> list:
    """Server-side IPv4 TCP sockets on 127.0.0.1:local_port (not the listener), as
    dicts: remote_port, state, inode (0 once the owning process closed it: orphan),
    tx_queue (bytes the server has written but the client has not acknowledged)."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            if lport != local_port or parts[3] == "0A":
                continue
            tx, rx = parts[4].split(":")
            out.append(dict(remote_port=int(parts[2].split(":")[1], 16),
                            state=_TCP_STATES.get(parts[3], parts[3]), inode=int(parts[9]),
                            tx_queue=int(tx, 16), rx_queue=int(rx, 16)))
    return out


def established_count(server_port: int) -> int:
    """How many clients are connected to the server port (server side ESTABLISHED)."""
    return sum(1 for s in tcp_sockets(server_port) if s["state"] == "ESTABLISHED")


def wait_connections(server_port: int, n: int, timeout: float = 10.0) -> None:
    wait_for(lambda: established_count(server_port) >= n, timeout,
             message="%d connections to port %d" % (n, server_port))


def server_holds_client(server_port: int, client_port: int) -> bool:
    """True while the server process still has the socket for this client open."""
    return any(s["remote_port"] == client_port and s["inode"] != 0 and
               s["state"] in ("ESTABLISHED", "CLOSE_WAIT")
               for s in tcp_sockets(server_port))


def server_send_queue(server_port: int, client_port: int) -> int:
    """Bytes queued in the server's socket towards this client (0 if none/closed)."""
    for s in tcp_sockets(server_port):
        if s["remote_port"] == client_port:
            return s["tx_queue"]
    return 0
