"""A customer's file host on loopback: serves the files a test puts on it, and can answer
404 or fail, or hold a request until the test lets it go. It records
every request, so a test can show that a file was (or was never) fetched."""

import asyncio
import threading
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.demo.loopback import LoopbackServer


@dataclass
class Hosted:
    content: bytes
    mime_type: str = "application/octet-stream"
    status: int = 200
    # Set: the answer waits until the test sets it (the request has arrived by then).
    hold: threading.Event | None = None


@dataclass
class FileServer:
    files: dict[str, Hosted] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.arrived = threading.Event()  # set by every request
        app = Starlette(routes=[Route("/f/{name}", self._serve, methods=["GET"])])
        self._server = LoopbackServer(app, "file server", lifespan="off")

    def start(self) -> "FileServer":
        self._server.start()
        return self

    def stop(self) -> None:
        for hosted in self.files.values():
            if hosted.hold is not None:
                hosted.hold.set()
        self._server.stop()

    def put(self, name: str, hosted: Hosted) -> str:
        """Host a file; returns its URL."""
        self.files[name] = hosted
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self._server.base_url}/f/{name}"

    def asked_for(self, name: str) -> int:
        with self._lock:
            return self.requests.count(name)

    async def _serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        with self._lock:
            self.requests.append(name)
        self.arrived.set()
        hosted = self.files.get(name)
        if hosted is None:
            return Response(b"no such file", status_code=404, media_type="text/plain")
        if hosted.hold is not None:
            await asyncio.to_thread(hosted.hold.wait)
        if hosted.status != 200:
            return Response(b"error", status_code=hosted.status, media_type="text/plain")
        return Response(hosted.content, media_type=hosted.mime_type)
