"""OutboxSender: delivers the outbox, one greenlet per URL, retrying with exponential backoff and jitter.

A URL's greenlet walks the rows that may go now (the oldest pending row of each client on that backend),
sends each, and sleeps until the next one is due or a new event wakes it. An attempt that gets no HTTP
answer (refused, reset, timeout, TLS) backs the whole URL off: the backend is down, and hammering it with
every pending row would not help. An answer SRS's rules judge a failure backs off only that row (and so
that client's later rows on that backend). Rows older than their retry window are expired with a log line.
"""
import random
import time
from typing import Callable, Dict, Optional, Tuple

import gevent
import gevent.event

from srsish.app.hooks.delivery_counts import DeliveryCounts
from srsish.app.hooks.events import judge_for
from srsish.app.hooks.outbox import Delivery, Outbox
from srsish.app.hooks.signing import request_headers
from srsish.app.hooks.transport import HookTransport, HookTransportError
from srsish.core.log import get_logger

BASE_DELAY = 1.0      # seconds before the first retry; doubles per attempt up to the row's max_delay


def backoff(attempt: int, max_delay: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): doubling, capped, half of it jittered."""
    delay = min(max_delay, BASE_DELAY * (2 ** min(attempt - 1, 30)))
    return delay / 2 + rng() * delay / 2


class OutboxSender:
    """Runs the delivery greenlets of one outbox."""

    def __init__(self, outbox: Outbox, transport: HookTransport, clock: Callable[[], float] = time.time,
                 counts: Optional[DeliveryCounts] = None) -> None:
        self.outbox = outbox
        self.transport = transport
        self.counts = counts if counts is not None else DeliveryCounts()   # by action and outcome
        self.clock = clock
        self._greenlets: Dict[str, gevent.Greenlet] = {}
        self._wakeups: Dict[str, gevent.event.Event] = {}
        self._stopping = False

    def start(self) -> int:
        """Start a greenlet for every URL with something pending (events kept from an earlier run)."""
        urls = self.outbox.urls()
        for url in urls:
            self.wake(url)
        return self.outbox.pending()

    def wake(self, url: str) -> None:
        """Something was added for `url`: make sure its greenlet runs and looks now."""
        if self._stopping:
            return
        ev = self._wakeups.get(url)
        if ev is None:
            ev = self._wakeups[url] = gevent.event.Event()
        ev.set()
        g = self._greenlets.get(url)
        if g is None or g.dead:
            self._greenlets[url] = gevent.spawn(self._run, url)

    def drain(self, timeout: float) -> bool:
        """Wait until the outbox is empty, at most `timeout` seconds; True when it is."""
        deadline = time.monotonic() + timeout
        while self.outbox.pending():
            if time.monotonic() >= deadline:
                return False
            gevent.sleep(0.02)
        return True

    def stop(self) -> None:
        """Stop delivering; what is still pending stays in the outbox for the next start."""
        self._stopping = True
        greenlets = list(self._greenlets.values())
        self._greenlets.clear()
        gevent.killall(greenlets, block=True, timeout=2)

    # -- one URL ------------------------------------------------------------------------
    def _run(self, url: str) -> None:
        log = get_logger()
        url_retry_at = 0.0
        ev = self._wakeups[url]
        try:
            while not self._stopping:
                ev.clear()
                heads = self.outbox.heads(url)
                if not heads:
                    return
                now = self.clock()
                progressed = False
                next_due: Optional[float] = None
                for d in heads:
                    if now - d.created > d.window:
                        self.outbox.expire(d)
                        self.counts.notify(d.action, "expired")
                        log.error("http hook %s %s event %s of client %s expired after %d attempts in %.0fs; "
                                  "not sent", d.action, d.url, d.event_id, d.client_id, d.attempts, now - d.created)
                        self._wake_followers(d)
                        progressed = True
                        continue
                    due = max(d.next_at, url_retry_at)
                    if due > now:
                        next_due = due if next_due is None else min(next_due, due)
                        continue
                    answered, retry_at = self._attempt(d)
                    now = self.clock()
                    if answered is not None:      # delivered, or refused: the client's next events may go
                        self._wake_followers(d)
                    if answered is True:
                        progressed = True
                        continue
                    next_due = retry_at if next_due is None else min(next_due, retry_at)
                    if answered is None:          # no HTTP answer: the URL itself waits
                        url_retry_at = retry_at
                if progressed:
                    continue
                if next_due is None:
                    return
                ev.wait(timeout=max(0.0, next_due - self.clock()))
        finally:
            if self._greenlets.get(url) is gevent.getcurrent():
                del self._greenlets[url]

    def _wake_followers(self, d: Delivery) -> None:
        """`d` left the outbox: the same client's next rows on other URLs of that backend may go now."""
        for url in self.outbox.urls_after(d):
            if url != d.url:
                self.wake(url)

    def _attempt(self, d: Delivery) -> Tuple[Optional[bool], float]:
        """One attempt: (True, 0) delivered; (False, retry at) answered but judged a failure; (None, retry at)
        no HTTP answer."""
        log = get_logger(d.client_id)
        attempt = d.attempts + 1
        headers = request_headers(d.event_id, attempt, self.clock(), d.body, d.secret, d.recovered)
        started = time.monotonic()
        try:
            status, reply = self.transport.post(d.url, d.body, d.timeout, d.tls_verify, headers)
        except HookTransportError as e:
            retry_at = self.clock() + backoff(attempt, d.max_delay)
            self.outbox.failed(d, str(e), retry_at, answered=False)
            self.counts.notify(d.action, "failed")
            log.warning("http hook %s %s event %s attempt %d failed in %dms: %s (will retry)",
                        d.action, d.url, d.event_id, attempt, _ms(started), e)
            return None, retry_at
        why = judge_for(d.action, status, reply)
        if why is None:
            self.outbox.delivered(d)
            self.counts.notify(d.action, "delivered")
            if d.attempts:
                self.counts.notify(d.action, "retried")
            log.info("http hook %s %s status=%d %dms ok%s", d.action, d.url, status, _ms(started),
                     f" (event {d.event_id} attempt {attempt})" if attempt > 1 or d.recovered else "")
            return True, 0.0
        retry_at = self.clock() + backoff(attempt, d.max_delay)
        self.outbox.failed(d, why, retry_at, answered=True)
        self.counts.notify(d.action, "failed")
        log.warning("http hook %s %s event %s attempt %d status=%d %dms rejected: %s (will retry)",
                    d.action, d.url, d.event_id, attempt, status, _ms(started), why)
        return False, retry_at


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
