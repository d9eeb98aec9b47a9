"""Run an ASGI app on a real loopback socket, in a thread, for the length of a test session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(app: Any, *, lifespan: bool = False) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) and yield its base URL.

    With `lifespan`, the app's lifespan runs too, in the server's thread and event loop,
    and the server stops gracefully (within 5 s) so that the lifespan's cleanup runs.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on" if lifespan else "off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        # Don't wait for requests a test left hanging on purpose; an app with a lifespan
        # waits (at most the graceful timeout), as uvicorn skips its cleanup otherwise.
        server.force_exit = not lifespan
        thread.join(timeout=10)
