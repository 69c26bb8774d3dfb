"""`k49 serve`: a run's model over HTTP, with a drawing page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from k49.cli.app import Device, app, console, err_console

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Pillow's pixel limit while serving: a 24-megapixel photo passes; a larger image (or a
#: decompression bomb) is refused before it is decoded, bounding each upload's memory.
MAX_PIXELS = 24_000_000


@app.command("serve")
def serve_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `k49 train`/`run`.")],
    host: Annotated[str, typer.Option(
        help="Address to listen on; 0.0.0.0 opens the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8049,
    device: Device = "auto",
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="A host name the server is reached by, besides its IP addresses, "
        "localhost and this machine's name (repeat for more); other Host headers are refused.",
    )] = None,
) -> None:
    """Serve RUN_DIR's model: a drawing page at /, POST /predict, GET /health and /model."""
    import uvicorn
    from PIL import Image

    from k49.deploy.server import create_app, open_socket

    Image.MAX_IMAGE_PIXELS = min(Image.MAX_IMAGE_PIXELS or MAX_PIXELS, MAX_PIXELS)

    # a bad RUN_DIR fails before binding
    application = create_app(run_dir, device=device, allowed_hosts=allow_host or ())
    sock = open_socket(host, port)
    predictor = application.state.predictor
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    name = predictor.model_name
    if predictor.label != name:
        name = f"{predictor.label} ({name})"
    data = "synthetic data, not K49" if predictor.synthetic else predictor.dataset
    console.print(f"serving {name}, trained on {data}, on {predictor.device}", highlight=False,
                  soft_wrap=True)
    console.print(f"open http://{shown}:{bound}/ in a browser (Ctrl-C stops)", highlight=False,
                  soft_wrap=True)
    if host not in LOOPBACK:
        err_console.print(f"warning: listening on {host}: anyone who can reach this machine can "
                          "use the server", highlight=False, soft_wrap=True)
    config = uvicorn.Config(application, host=host, port=bound, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then raised Ctrl-C again
        pass
    finally:
        sock.close()
    console.print("stopped")
