"""An ASGI app served by uvicorn on a free loopback port, in a thread of its own: how
``baton demo`` runs Baton and its stand-in platform side by side in one process."""

import socket
import threading
import time
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 30.0


class LoopbackServer:
    def __init__(
        self, app: ASGIApp, name: str, *, lifespan: Literal["auto", "on", "off"] = "on"
    ) -> None:
        self.name = name
        self._config = uvicorn.Config(
            app, lifespan=lifespan, log_config=None, access_log=False, log_level="warning"
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        # Bound now, so that the address is known before the app starts (Baton's own links
        # name it).
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LoopbackServer":
        """Returns once the server answers; RuntimeError if it stops during start-up (a
        failing lifespan, for one)."""
        sock = self._socket
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError(f"{self.name} stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT:.0f}s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        else:
            self._socket.close()
