"""A background greenlet that runs queued calls one at a time, in order (SRS's SrsAsyncCallWorker)."""
from typing import Callable, Optional

import gevent
import gevent.queue

from srsish.core.log import get_logger

DEFAULT_MAXSIZE = 10000


class AsyncCallWorker:
    """Runs submitted callables in order on one lazily spawned greenlet.

    The producer never blocks: media paths submit here. When the queue is full the
    *new* task is dropped and an error line names it (an event is never lost silently,
    and the producer's latency never depends on a slow backend).
    """

    def __init__(self, name: str, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.name = name
        self._queue: gevent.queue.JoinableQueue = gevent.queue.JoinableQueue(maxsize)
        self._greenlet: Optional[gevent.Greenlet] = None
        self._log = get_logger()

    def submit(self, task: Callable[[], None], what: str) -> bool:
        """Queue `task`; `what` describes it for the log line if it has to be dropped."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        try:
            self._queue.put_nowait((task, what))
        except gevent.queue.Full:
            self._log.error("%s queue full (%d pending), dropped %s",
                            self.name, self._queue.qsize(), what)
            return False
        return True

    def pending(self) -> int:
        """Tasks queued and not finished yet (the running one included)."""
        return self._queue.unfinished_tasks

    def flush(self, timeout: float) -> bool:
        """Wait until every queued task has finished; False if `timeout` expired first."""
        if self._queue.unfinished_tasks == 0:
            return True
        return bool(self._queue.join(timeout))

    def stop(self) -> None:
        """Kill the worker; tasks still queued are logged as dropped."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        while True:
            try:
                _task, what = self._queue.get_nowait()
            except gevent.queue.Empty:
                break
            self._log.error("%s stopped, dropped %s", self.name, what)
            self._queue.task_done()

    def _run(self) -> None:
        while True:
            task, what = self._queue.get()
            try:
                task()
            except Exception:  # a task bug must not kill the worker
                self._log.exception("%s task failed: %s", self.name, what)
            finally:
                self._queue.task_done()
