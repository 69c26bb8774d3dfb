"""`k49 serve`'s app through TestClient: the endpoints, the same answers as `k49 predict`, errors
as one-line JSON with their 4xx codes (never a traceback), no uploaded file kept; and the CLI's
one-line errors before binding."""

from __future__ import annotations

import base64
import builtins
import io
import json
import re
import socket
import tempfile

import anyio
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cli_runner import assert_one_line_error, k49, k49_process
from k49.deploy.images import MAX_BYTES, load_k49_image
from k49.deploy.model_card import model_card
from k49.deploy.predict import Predictor
from k49.deploy.server import MAX_PARTS, create_app

pytestmark = pytest.mark.slow


#: Where the test clients say they are (a Host the server answers).
LOCAL = "http://localhost"


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(trained_run):
    with TestClient(create_app(trained_run, device="cpu"), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_run(trained_run, device="cpu")


def post(client, data: bytes, *, content_type: str = "image/png", top_k=None, **kw):
    params = {} if top_k is None else {"top_k": top_k}
    return client.post("/predict", params=params,
                       files={"file": ("upload", data, content_type)}, **kw)


def assert_error(response, status: int, *needles: str) -> str:
    """A JSON {"error": "one line"} with `status`, no traceback; the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    message = body["error"]
    assert message and "\n" not in message and "Traceback" not in response.text
    for needle in needles:
        assert needle in message, message
    return message


# --- the endpoints ------------------------------------------------------------------------------

def test_health(client, predictor):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"] == predictor.model_name and body["device"] == "cpu"
    assert body["synthetic"] is bool(predictor.synthetic)
    assert body["classes"] == predictor.num_classes


def test_model_is_the_model_card_without_this_machines_paths(client, trained_run):
    response = client.get("/model")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(model_card(trained_run, public=True)))
    assert str(trained_run.resolve().parent) not in response.text
    assert response.json()["label"] == model_card(trained_run)["label"]


def test_page_and_its_assets_stay_on_this_server(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<canvas" in html and 'id="pad"' in html
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {"/static/app.js", "/static/style.css"} <= set(assets)
    for text in [html] + [client.get(a).text for a in assets]:
        assert not re.search(r"https?://", text), "the page may load nothing from elsewhere"
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_predict_agrees_with_k49_predict(client, predictor, real_sample):
    images, _ = real_sample
    for image in images[:8]:
        data = png(image)
        body = post(client, data).json()
        expected = predictor.predict(load_k49_image(data)[None], top_k=5)[0].to_dict()["top"]
        assert [p["class"] for p in body["top"]] == [p["class"] for p in expected]
        for got, want in zip(body["top"], expected, strict=True):
            assert got["char"] == want["char"] and got["codepoint"] == want["codepoint"]
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)
        assert body["model"] == predictor.model_name
        assert body["synthetic"] is bool(predictor.synthetic)
        # the 28x28 image the model received
        uri = body["input"]
        assert uri.startswith("data:image/png;base64,")
        received = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
        np.testing.assert_array_equal(received, load_k49_image(data))


def test_raw_body_and_top_k(client, predictor, real_sample):
    data = png(real_sample[0][0])
    multipart = post(client, data, top_k=predictor.num_classes).json()["top"]
    assert len(multipart) == predictor.num_classes
    probs = [p["probability"] for p in multipart]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-4)
    raw = client.post("/predict?top_k=3", content=data, headers={"content-type": "image/png"})
    assert raw.status_code == 200
    assert raw.json()["top"] == multipart[:3]


def test_concurrent_requests_are_batched(trained_run, predictor, real_sample):
    """Requests that arrive together share one model call, and each gets its own answer."""
    app = create_app(trained_run, device="cpu", max_wait=0.05)
    datas = [png(image) for image in real_sample[0][:6]]
    answers: list = [None] * len(datas)

    async def many():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as c:
            async def one(i):
                r = await c.post("/predict", files={"file": ("a.png", datas[i], "image/png")})
                answers[i] = r.json()["top"][0]["class"]

            async with anyio.create_task_group() as tg:
                for i in range(len(datas)):
                    tg.start_soon(one, i)

    anyio.run(many)
    batcher = app.state.batcher
    batcher.close()
    assert batcher.images == len(datas) and batcher.batches < len(datas)
    images = np.stack([load_k49_image(d) for d in datas])
    assert answers == predictor.proba(images).argmax(1).tolist()


def test_knn_run_is_served(knn_run, real_sample):
    predictor = Predictor.from_run(knn_run)
    data = png(real_sample[0][5])
    with TestClient(create_app(knn_run), base_url=LOCAL) as c:
        assert c.get("/health").json()["model"] == predictor.model_name
        body = post(c, data, top_k=3).json()
    expected = predictor.predict(load_k49_image(data)[None], top_k=3)[0].to_dict()["top"]
    assert [p["class"] for p in body["top"]] == [p["class"] for p in expected]
    assert [p["probability"] for p in body["top"]] == pytest.approx(
        [p["probability"] for p in expected])


# --- errors: one-line JSON, the right code, never a traceback -----------------------------------

def test_not_an_image_is_400(client):
    assert_error(post(client, b"this is not a PNG at all"), 400)
    truncated = png(np.full((28, 28), 200, np.uint8))[:40]
    assert_error(post(client, truncated), 400)


def test_blank_image_is_400_no_ink(client):
    message = assert_error(post(client, png(np.full((64, 64), 255, np.uint8))), 400)
    assert "no ink" in message.lower()


def test_too_large_is_413(client):
    big = b"\x89PNG" + bytes(MAX_BYTES)
    assert_error(post(client, big), 413)  # by Content-Length
    raw = client.post("/predict", content=big, headers={"content-type": "image/png"})
    assert_error(raw, 413)

    def chunks():  # no Content-Length: refused while reading
        for _ in range(MAX_BYTES // 2**16 + 2):
            yield bytes(2**16)

    assert_error(client.post("/predict", content=chunks(),
                             headers={"content-type": "image/png"}), 413)


def test_wrong_content_type_is_415(client, real_sample):
    data = png(real_sample[0][0])
    assert_error(post(client, data, content_type="text/plain"), 415, "image/png")
    assert_error(client.post("/predict", content=data, headers={"content-type": "text/plain"}),
                 415)
    assert_error(client.post("/predict", json={"file": "x"}), 415)


@pytest.mark.parametrize("top_k", ["0", "-1", "50", "abc", "2.5", "", "\u00b2", "\u0663",
                                   "9" * 5000, "0" * 5000 + "1"])
def test_bad_top_k_is_422(client, real_sample, top_k):
    assert_error(post(client, png(real_sample[0][0]), top_k=top_k), 422, "top_k")


def test_missing_or_malformed_parts(client, real_sample):
    data = png(real_sample[0][0])
    assert_error(client.post("/predict", files={"image": ("a.png", data, "image/png")}), 422,
                 "'file'")
    bad = client.post("/predict", content=b"--x\r\nnonsense",
                      headers={"content-type": "multipart/form-data; boundary=x"})
    assert bad.status_code in (400, 422)
    assert_error(bad, bad.status_code)
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.get("/predict"), 405)


def multipart(parts: list[tuple[str, bytes]], boundary: str = "b0und4ry") -> tuple[bytes, dict]:
    """A multipart/form-data body of (field name, content) parts, and its headers."""
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in parts)
    return body + f"--{boundary}--\r\n".encode(), {
        "content-type": f"multipart/form-data; boundary={boundary}"}


def test_multipart_parts_and_boundary_are_bounded(client, real_sample):
    data = png(real_sample[0][0])
    body, headers = multipart([("file", data)] + [("x", b"")] * (MAX_PARTS - 1))
    assert client.post("/predict", content=body, headers=headers).status_code == 200
    body, headers = multipart([("x", b"")] * MAX_PARTS + [("file", data)])
    assert_error(client.post("/predict", content=body, headers=headers), 400,
                 f"more than {MAX_PARTS} parts")
    many = b"".join(b"--b\r\n\r\n\r\n" for _ in range(195_000)) + b"--b--\r\n"
    assert_error(client.post("/predict", content=many[:MAX_BYTES], headers={
        "content-type": "multipart/form-data; boundary=b"}), 400, "parts")
    long = "x" * 5000
    body, headers = multipart([("file", data)], boundary=long)
    assert_error(client.post("/predict", content=body, headers=headers), 400, "boundary",
                 "1 to 70")
    assert_error(client.post("/predict", content=data, headers={
        "content-type": "multipart/form-data"}), 400, "boundary")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8049", "localhost.evil.example",
                                  "127.0.0.1.nip.io"])
def test_unknown_host_is_refused(client, host):
    """DNS rebinding: a page on another name that resolves to this machine cannot use it."""
    assert_error(client.get("/health", headers={"host": host}), 400, "Host", "--allow-host")


@pytest.mark.parametrize("host", ["localhost", "localhost:8049", "127.0.0.1:8049", "[::1]:8049",
                                  "10.1.2.3", "LOCALHOST", socket.gethostname()])
def test_addresses_and_this_machine_are_answered(client, host):
    assert client.get("/health", headers={"host": host}).status_code == 200


def test_allowed_host_names(trained_run):
    app = create_app(trained_run, device="cpu", allowed_hosts=["k49.example.org"])
    with TestClient(app, base_url="http://k49.example.org") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"host": "other.example.org"}).status_code == 400


def test_internal_error_is_500_without_internals(trained_run, real_sample):
    app = create_app(trained_run, device="cpu")

    def broken(images):
        raise RuntimeError("secret internals /home/user/weights")

    app.state.batcher.proba = broken
    with TestClient(app, raise_server_exceptions=False, base_url=LOCAL) as c:
        response = post(c, png(real_sample[0][0]))
        message = assert_error(response, 500)
        assert "secret" not in message and "RuntimeError" not in response.text


def test_no_uploaded_file_is_written(client, real_sample, tmp_path, monkeypatch):
    """Uploads stay in memory: no temporary file, no file opened for writing."""
    written: list[str] = []
    real_open = builtins.open

    def watching_open(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax+"):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    def no_temp(*args, **kwargs):
        raise AssertionError("an upload went to a temporary file")

    monkeypatch.setattr(builtins, "open", watching_open)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temp)
    big = np.asarray(Image.fromarray(real_sample[0][0]).resize((1200, 1200)))
    for data in (png(real_sample[0][1]), png(big, "RGB")):  # the second one above 1 MB
        assert post(client, data).status_code == 200
        raw = client.post("/predict", content=data, headers={"content-type": "image/png"})
        assert raw.status_code == 200
    assert written == [] and list(tmp_path.iterdir()) == []


# --- the command line ---------------------------------------------------------------------------

def test_cli_bad_run_dir_is_one_line(tmp_path):
    assert_one_line_error(k49("serve", str(tmp_path / "missing")))


def test_cli_port_in_use_is_one_line(trained_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # a real process: in this one, uvicorn would take over logging and signals
        result = k49_process("serve", str(trained_run), "--port", str(port), "--device", "cpu")
    assert_one_line_error(result, str(port), "in use")
