"""`k49 serve`: a run's model over HTTP, with a drawing page; concurrent requests are batched.

POST /predict takes one image (the multipart field "file", or a raw body with an image type) and
answers the top-k classes, the 28x28 image the model received and whether the model saw only
synthetic data. GET /health, GET /model (the model card), GET / (the drawing page).

Safe by default: uploads are read into memory only (never a file), capped at MAX_BYTES (by
Content-Length, then while reading) and at MAX_PARTS multipart parts, their type checked, and
parsed, decoded and run in worker threads, so one client's body never holds up another's
request; a request whose Host header names neither this machine nor an allowed host is refused
(DNS rebinding); every error is JSON {"error": "one line"} with its 4xx code, and a 500 says
nothing of the internals.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import ipaddress
import os
import socket
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from k49.data.datasets import public_name
from k49.data.k49format import codepoint
from k49.deploy.images import MAX_BYTES, BadImage, load_k49_image
from k49.deploy.model_card import model_card
from k49.deploy.predict import Predictor
from k49.errors import K49Error

STATIC = Path(__file__).with_name("static")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/x-ms-bmp", "image/tiff",
               "image/webp", "image/gif")
#: Room for the multipart boundaries and part headers around a MAX_BYTES image.
MULTIPART_SLACK = 16 * 1024
#: Parts a multipart body may carry: the page sends one ("file"); a few more are tolerated.
MAX_PARTS = 8
#: RFC 2046's longest multipart boundary.
MAX_BOUNDARY = 70
TOO_LARGE = f"the upload is larger than {MAX_BYTES // 2**20} MB: send a smaller image"
#: The page may load nothing from anywhere else; it talks to this server only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}


class Refused(Exception):
    """A request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Batcher:
    """Runs `proba` once for the images that arrive together (up to `max_batch`; while requests
    are still being prepared (`coming`), waiting up to `max_wait` s for them), in one worker
    thread, so the event loop never blocks on the model. A lone request does not wait.

    torch keeps its threads (one per core): with 8 clients on CNN_dense_batch_norm on 2 cores,
    ~300 requests/s against ~265 with one thread; waits of 1, 2 or 5 ms were alike (see
    benchmarks/bench_serve.py)."""

    def __init__(self, proba, max_batch: int = 64, max_wait: float = 0.002):
        self.proba, self.max_batch, self.max_wait = proba, max_batch, max_wait
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="k49-model")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batches = self.images = 0
        self.coming = 0  # requests being prepared: worth waiting for

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.pending, self.wakeup = loop, [], asyncio.Event()
        self.task = loop.create_task(self._run())

    async def submit(self, image: np.ndarray) -> np.ndarray:
        """The class probabilities of one (28, 28) uint8 image."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self.task.done():
            self._start(loop)
        future = loop.create_future()
        self.pending.append((image, future))
        self.wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            if self.coming and len(self.pending) < self.max_batch:
                await asyncio.sleep(self.max_wait)
            batch = [p for p in self.pending[:self.max_batch] if not p[1].done()]
            del self.pending[:self.max_batch]
            if not self.pending:
                self.wakeup.clear()
            if not batch:
                continue
            try:
                proba = await loop.run_in_executor(
                    self.executor, self.proba, np.stack([image for image, _ in batch]))
                results = list(zip(batch, proba, strict=True))
                self.batches, self.images = self.batches + 1, self.images + len(batch)
            except Exception as e:  # each waiting request answers 500
                results = [(item, e) for item in batch]
            for (_, future), result in results:
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def close(self) -> None:
        if self.loop is not None and not self.task.done():
            self.task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


def allowed_host_names(extra: Collection[str] = ()) -> frozenset[str]:
    """The Host names a server on this machine answers to, besides IP addresses: localhost,
    the machine's own names and `extra` (the names it is published under)."""
    names = {"localhost", socket.gethostname(), socket.getfqdn(), *extra}
    return frozenset(name.lower().rstrip(".") for name in names if name)


def host_allowed(hostname: str | None, names: Collection[str]) -> bool:
    """Whether a request's Host (without its port) may be answered: an IP address (a DNS
    rebinding attack needs a name) or one of `names`."""
    if not hostname:
        return False
    try:
        ipaddress.ip_address(hostname.strip("[]"))
        return True
    except ValueError:
        return hostname.lower().rstrip(".") in names


def create_app(run_dir: str | os.PathLike, device: str = "auto", *, max_batch: int = 64,
               max_wait: float = 0.002,
               allowed_hosts: Collection[str] | None = None) -> FastAPI:
    """The app serving `run_dir`'s model; a K49Error here if the run cannot be loaded.

    Requests whose Host is not an IP address, localhost, this machine's name or one of
    `allowed_hosts` are refused with 400.
    """
    predictor = Predictor.from_run(run_dir, device=device)
    batcher = Batcher(predictor.proba, max_batch=max_batch, max_wait=max_wait)
    prepare_pool = ThreadPoolExecutor(2, thread_name_prefix="k49-prepare")
    chars = list(predictor.chars)
    card: dict = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        batcher.close()
        prepare_pool.shutdown(wait=False, cancel_futures=True)

    # No /docs: Swagger UI would load scripts from a CDN.
    app = FastAPI(title="k49", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.predictor, app.state.batcher = predictor, batcher
    _install_error_handlers(app)
    host_names = allowed_host_names(allowed_hosts or ())

    @app.middleware("http")
    async def trusted_host(request: Request, call_next):
        if not host_allowed(request.url.hostname, host_names):
            return _error(400, f"unknown Host {request.headers.get('host', '')[:100]!r}: this "
                          "server answers to its address, localhost or its --allow-host names")
        return await call_next(request)

    facts = {"model": predictor.model_name, "label": predictor.label,
             "dataset": public_name(predictor.dataset), "synthetic": bool(predictor.synthetic)}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", **facts, "device": str(predictor.device),
                "classes": predictor.num_classes}

    @app.get("/model")
    async def model() -> dict:
        if not card:
            card.update(await run_in_threadpool(model_card, run_dir, public=True))
        return card

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        top_k = _top_k(request.query_params.get("top_k", "5"), predictor.num_classes)
        body, boundary = await _upload(request)
        loop = asyncio.get_running_loop()
        batcher.coming += 1
        try:
            image, preview = await loop.run_in_executor(prepare_pool, _prepare, body, boundary)
        finally:
            batcher.coming -= 1
        proba = await batcher.submit(image)
        order = np.argsort(-proba, kind="stable")[:top_k]
        top = [{"class": int(i), "char": chars[i], "codepoint": codepoint(chars[i]),
                "probability": float(proba[i])} for i in order]
        return {**facts, "top": top, "input": preview}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _top_k(text: str, classes: int) -> int:
    # isdigit alone admits "²" and 5,000-digit numbers, which int() refuses
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= classes):
        raise Refused(422, f"top_k must be a whole number from 1 to {classes}, got {text[:20]!r}")
    return int(text)


async def _upload(request: Request) -> tuple[bytes, bytes | None]:
    """The request's body, read into memory and capped, and its multipart boundary (None for
    a raw image body); `_image_bytes` takes the image out of it in a worker thread."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    kind = kind.decode("latin-1").lower()
    if kind == "multipart/form-data":
        boundary = params.get(b"boundary", b"")
        if not 1 <= len(boundary) <= MAX_BOUNDARY:
            raise Refused(400, f"the multipart boundary must be 1 to {MAX_BOUNDARY} characters, "
                          f"got {len(boundary)}: send a standard multipart/form-data body")
        return await _read_body(request, MAX_BYTES + MULTIPART_SLACK), boundary
    if kind in IMAGE_TYPES:
        return await _read_body(request, MAX_BYTES), None
    raise Refused(415, f"send an image ({', '.join(IMAGE_TYPES)}) as the multipart field "
                  f"'file' or as the body, not {kind[:100] or 'no content type'}")


def _image_bytes(body: bytes, boundary: bytes | None) -> bytes:
    """The uploaded image's bytes: the body itself, or its multipart field "file"."""
    if boundary is None:
        return body
    data, kind = _multipart_file(body, boundary)
    if kind not in IMAGE_TYPES:
        raise Refused(415, f"the file's type is {kind[:100] or 'not given'}; send one of "
                      f"{', '.join(IMAGE_TYPES)}")
    if len(data) > MAX_BYTES:
        raise Refused(413, TOO_LARGE)
    return data


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise Refused(413, TOO_LARGE)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def _multipart_file(body: bytes, boundary: bytes) -> tuple[bytes, str]:
    """The bytes and content type of the part named "file" of a multipart/form-data body."""
    parts: list[dict] = []
    header: list[bytes] = [b"", b""]

    def on_header_end() -> None:
        parts[-1]["headers"][header[0].lower()] = header[1]
        header[:] = [b"", b""]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].append(data[start:end])

    def on_header(i):
        def add(data: bytes, start: int, end: int) -> None:
            header[i] += data[start:end]
        return add

    def on_part_begin() -> None:
        if len(parts) == MAX_PARTS:
            raise Refused(400, f"the multipart body has more than {MAX_PARTS} parts: send the "
                          "image as the field 'file' alone")
        parts.append({"headers": {}, "data": []})

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header(0), "on_header_value": on_header(1),
        "on_header_end": on_header_end, "on_part_data": on_part_data})
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise Refused(400, "the multipart body is malformed") from None
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition"))
        if disposition.get(b"name") == b"file":
            kind, _ = parse_options_header(part["headers"].get(b"content-type"))
            return b"".join(part["data"]), kind.decode("latin-1").lower()
    raise Refused(422, "no image in the request: send it as the multipart field 'file'")


def _prepare(body: bytes, boundary: bytes | None) -> tuple[np.ndarray, str]:
    """The K49-form image of an upload and a PNG data URI of it (in a worker thread)."""
    image = load_k49_image(_image_bytes(body, boundary), name="the upload")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return image, "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"error": "one line"}; never a traceback."""

    @app.exception_handler(Refused)
    async def refused(_request, e: Refused) -> JSONResponse:
        return _error(e.status, str(e))

    @app.exception_handler(BadImage)
    async def bad_image(_request, e: BadImage) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, e: RequestValidationError) -> JSONResponse:
        err = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in err.get("loc", ()))
        return _error(422, f"{where}: {err.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def http_error(_request, e: HTTPException) -> JSONResponse:
        return _error(e.status_code, e.detail)

    @app.exception_handler(Exception)
    async def internal(_request, e: Exception) -> JSONResponse:
        message = str(e) if isinstance(e, K49Error) else "internal error: see the server's log"
        return _error(500, message)


def open_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a K49Error (one line) if it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as e:
        why = getattr(e, "strerror", None) or e
        raise K49Error(f"cannot listen on {host!r}: {why}; give an address of this machine "
                       "with --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise K49Error(f"port {port} on {host} is in use: stop what uses it or choose "
                           "another --port") from None
        raise K49Error(f"cannot listen on {host}:{port}: {e.strerror or e}; choose another "
                       "--host or --port") from None
    return sock
