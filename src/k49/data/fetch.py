"""Download the real K49 / KMNIST files with pooch, verifying md5 and size whatever the source.

pooch does the downloading (streamed to a temporary file beside the target), the md5 check and
the move onto the final name; this module adds what K49 needs on top: a size check, several
mirrors tried in order, retries on transient failures only, a rich progress bar, and one-line
`K49Error`s that name the file, the URL and the fix.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from k49.console import progress_bar, terminal
from k49.data.datasets import DataFile, get_spec
from k49.data.k49format import md5sum
from k49.errors import K49Error
from k49.io import make_dir

#: Environment variable holding space-separated mirror base URLs.
ENV_BASE_URL = "K49_BASE_URL"
#: Seconds to wait before retry n (n = 1, 2, ...) is `RETRY_WAIT * n`.
RETRY_WAIT = 1.0
#: Bytes per streamed chunk (pooch's default of 1 KiB is slow for 66 MB).
CHUNK_SIZE = 1 << 16

OLD_RELEASE_HINT = "it may be the release from before 5 February 2019, which the authors replaced"


def _normalise(url: str) -> str:
    url = url.strip()
    return url.rstrip("/") + "/" if url else ""


def _check_url(url: str) -> None:
    if urlparse(url).scheme not in ("http", "https"):
        raise K49Error(
            f"base URL {url!r} must start with http:// or https://: "
            f"fix --base-url or {ENV_BASE_URL}"
        )


def base_urls_from(
    cli_urls: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    official: str | None = None,
) -> list[str]:
    """The mirrors to try, in order: `--base-url`s, else `K49_BASE_URL`, then the official host.

    The official URL is appended last unless the user already listed it, in which case their
    order is kept. Every URL ends with one slash; duplicates are dropped.
    """
    env = os.environ if env is None else env
    given = [u for u in cli_urls if u and u.strip()]
    if not given:
        given = env.get(ENV_BASE_URL, "").split()
    urls: list[str] = []
    for url in [*given, *([official] if official else [])]:
        url = _normalise(url)
        if url and url not in urls:
            _check_url(url)
            urls.append(url)
    return urls


class _RichBar:
    """The slice of tqdm's interface pooch's HTTPDownloader uses, drawn as a rich Progress task."""

    def __init__(self, progress, description: str):
        self._progress = progress
        self._task = progress.add_task(description, total=None)
        self._total: int | None = None

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value or None
        self._progress.update(self._task, total=self._total)

    def update(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def reset(self) -> None:
        self._progress.reset(self._task, total=self._total)

    def close(self) -> None:
        self._progress.stop_task(self._task)


class _SizeMismatch(Exception):
    def __init__(self, got: int, expected: int):
        super().__init__(got, expected)
        self.got, self.expected = got, expected


class _Downloader:
    """pooch's HTTPDownloader plus a size check on the temporary file, before pooch's md5 check."""

    def __init__(self, size: int | None, timeout: float, progressbar=False):
        import pooch

        self.size = size
        self.http = pooch.HTTPDownloader(
            progressbar=progressbar, timeout=timeout, chunk_size=CHUNK_SIZE
        )

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        result = self.http(url, output_file, pooch_obj, check_only=check_only)
        if not check_only and self.size is not None:
            got = os.path.getsize(output_file)
            if got != self.size:
                raise _SizeMismatch(got, self.size)
        return result


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs every download to stderr; the CLI promises one-line errors, so hush it."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _progress(enabled: bool) -> Iterator[object | None]:
    if not enabled:
        yield None
        return
    from rich.progress import DownloadColumn, TransferSpeedColumn

    console = terminal(stderr=True)
    if not console.is_terminal:  # no bar in logs and pipes: it would print its last frame
        yield None
        return
    with progress_bar(DownloadColumn(), TransferSpeedColumn(), transient=False,
                      console=console) as progress:
        yield progress


def _file_status(path: Path, entry: DataFile, generated: bool = True) -> str:
    if not path.exists():
        return "missing"
    if entry.md5 is None:
        return "generated" if generated else "present"
    if entry.size is not None and path.stat().st_size != entry.size:
        return "size mismatch"
    if md5sum(path) != entry.md5:
        return "md5 mismatch"
    return "verified"


def verify(
    name: str, data_dir: str | os.PathLike, files: dict[str, DataFile] | None = None
) -> dict[str, str]:
    """Status of each file of `name` in `data_dir`, by file name.

    One of "verified", "missing", "size mismatch", "md5 mismatch", "generated" for the synthetic
    set's files (the facts table has no checksum for them) or "present" for a user folder's.
    """
    spec = get_spec(name)
    files = spec.files if files is None else files
    directory = spec.directory(data_dir)
    generated = spec.folder is None
    return {entry.name: _file_status(directory / entry.name, entry, generated)
            for entry in files.values()}


def _describe(exc: BaseException, entry: DataFile, timeout: float) -> tuple[str, bool]:
    """A short reason for a failed attempt, and whether trying the same URL again may help."""
    import requests

    if isinstance(exc, _SizeMismatch):
        if exc.got < exc.expected:
            return f"truncated download: got {exc.got} of {exc.expected} bytes", True
        return f"size mismatch: got {exc.got} bytes, expected {exc.expected}", False
    if isinstance(exc, requests.HTTPError):
        response = exc.response
        code = getattr(response, "status_code", None)
        reason = getattr(response, "reason", "") or ""
        return f"HTTP {code} {reason}".strip(), code is not None and code >= 500
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g} s", True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-download (truncated)", True
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused", True
        if "resolve" in text.lower() or "name or service" in text.lower():
            return "host not found (no network?)", True
        return "could not connect (no network?)", True
    if isinstance(exc, ValueError) and "hash" in str(exc):
        got = re.search(r"but got ([0-9a-fA-F]+)", str(exc))
        found = f" got {got.group(1)}," if got else ""
        return f"md5 mismatch:{found} expected {entry.md5}; {OLD_RELEASE_HINT}", False
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__}: {exc}", False
    raise exc


def _download_one(
    url: str,
    target: Path,
    entry: DataFile,
    *,
    timeout: float,
    retries: int,
    progress,
) -> tuple[str | None, bool]:
    """Download `url` onto `target`; None on success, else (reason, mirror unreachable)."""
    import pooch
    import requests

    reason, unreachable = "", False
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(RETRY_WAIT * attempt)
        bar = None
        if progress is not None:
            bar = _RichBar(progress, f"{entry.name} ({urlparse(url).netloc})")
        downloader = _Downloader(entry.size, timeout, progressbar=bar or False)
        try:
            pooch.retrieve(
                url,
                known_hash=f"md5:{entry.md5}" if entry.md5 else None,
                fname=entry.name,
                path=target.parent,
                downloader=downloader,
            )
            return None, False
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a reason below
            reason, transient = _describe(exc, entry, timeout)
            if bar is not None:
                progress.remove_task(bar._task)
            # pooch removes its temporary file; make sure nothing sits under the final name.
            target.unlink(missing_ok=True)
            if not transient:
                return reason, False
            # refused, no route, timed out: later files will not fare better from this mirror
            unreachable = isinstance(exc, (requests.ConnectionError, requests.Timeout))
    tries = f", {retries + 1} tries" if retries else ""
    return reason + tries, unreachable


def fetch(
    name: str,
    data_dir: str | os.PathLike,
    base_urls: Sequence[str] = (),
    *,
    progress: bool = True,
    timeout: float = 10.0,
    retries: int = 2,
    files: dict[str, DataFile] | None = None,
) -> dict[str, Path]:
    """Download every file of dataset `name` into `data_dir/name/`, verified; paths by role.

    `base_urls` are tried in order for each file (empty: `K49_BASE_URL`, then the official
    host). A file already present with the right size and md5 is not downloaded again; a
    present file that does not match is deleted and downloaded again. `files` replaces the
    facts table (role -> DataFile) for tests that serve their own files.
    """
    spec = get_spec(name)
    if spec.synthetic:
        raise K49Error(f"{name} is generated locally, not downloaded: run `k49 data synth` instead")
    if spec.folder is not None:
        raise K49Error(f"{spec.name} is a folder of your own, never downloaded: "
                       "put its K49-format files there by hand")
    files = spec.files if files is None else files
    urls = [_normalise(u) for u in base_urls if u and u.strip()]
    if not urls:
        urls = base_urls_from((), official=spec.official_url)
    if not urls:
        raise K49Error(f"no URL to download {name} from: pass one with --base-url")
    for url in urls:
        _check_url(url)
    directory = spec.directory(data_dir)
    hand = f"put the files in {directory}/ by hand"

    paths: dict[str, Path] = {}
    todo: dict[str, DataFile] = {}
    for role, entry in files.items():
        target = directory / entry.name
        paths[role] = target
        status = _file_status(target, entry)
        if status in ("verified", "generated"):
            continue
        if status != "missing":
            # A wrong file never stays under the official name, but is kept aside, not lost.
            target.replace(target.with_name(target.name + f".{status.replace(' ', '-')}"))
        todo[role] = entry
    if not todo:
        return paths
    make_dir(directory)

    unreachable: dict[str, str] = {}  # mirror -> reason; skipped for the remaining files
    with _quiet_pooch(), _progress(progress) as bar:
        for entry in todo.values():
            target = directory / entry.name
            tried: list[str] = []
            for base in urls:
                url = base + entry.name
                if base in unreachable:
                    tried.append(f"{url} (skipped: {unreachable[base]} earlier)")
                    continue
                try:
                    reason, dead = _download_one(
                        url, target, entry, timeout=timeout, retries=retries, progress=bar
                    )
                except OSError as e:  # requests' errors are mapped inside; this is the disk
                    raise K49Error(
                        f"cannot write {target} ({e.strerror or e}): free some space or "
                        "choose another --data-dir"
                    ) from None
                if reason is None:
                    break
                tried.append(f"{url} ({' '.join(reason.split())})")
                if dead:
                    unreachable[base] = reason
            else:
                raise K49Error(
                    f"could not download {entry.name}: tried {'; '.join(tried)}. "
                    f"Pass a working mirror with --base-url (or {ENV_BASE_URL}), or {hand}"
                )
    return paths
