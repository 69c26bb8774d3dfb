"""Downloading real datasets, against a local HTTP server: never the network."""

from __future__ import annotations

import socket
import time

import pytest

from k49.data import fetch as fetch_mod
from k49.data.datasets import DATASETS, OFFICIAL_K49_URL, DataFile
from k49.data.fetch import base_urls_from, fetch, verify
from k49.data.load import load_dataset
from k49.errors import K49Error

NAMES = [f.name for f in DATASETS["k49"].files.values()]


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch):
    monkeypatch.setattr(fetch_mod, "RETRY_WAIT", 0.0)
    monkeypatch.delenv("K49_BASE_URL", raising=False)


@pytest.fixture
def served(http_server, k49_files):
    """The server with the five tiny k49 files under /good/; returns (server, table)."""
    table = k49_files(http_server.root / "good")
    return http_server, table


def gets(server, path_part=""):
    return [r for r in server.requests if r[0] == "GET" and path_part in r[1]]


def assert_clean_failure(err: K49Error, data_dir, file_name: str, url: str) -> None:
    message = str(err)
    assert "\n" not in message
    assert file_name in message
    assert url in message
    assert "--base-url" in message
    assert not (data_dir / "k49" / file_name).exists()
    # nor pooch's temporary file
    assert not [p for p in (data_dir / "k49").glob("*") if p.name not in NAMES]


# --- success and caching -----------------------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(served, tmp_path):
    server, table = served
    data_dir = tmp_path / "data"
    paths = fetch("k49", data_dir, [server.url + "/good"], progress=False, files=table)

    assert set(paths) == set(table)
    for role, entry in table.items():
        assert paths[role] == data_dir / "k49" / entry.name
        assert paths[role].stat().st_size == entry.size
    assert set(verify("k49", data_dir, files=table).values()) == {"verified"}
    assert len(gets(server)) == 5
    mtimes = {p: p.stat().st_mtime_ns for p in paths.values()}

    again = fetch("k49", data_dir, [server.url + "/good"], progress=False, files=table)
    assert again == paths
    assert len(gets(server)) == 5  # nothing downloaded the second time
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == mtimes


def test_fetched_files_load(served, tmp_path):
    server, table = served
    fetch("k49", tmp_path, [server.url + "/good/"], progress=False, files=table)
    # The tiny files are not the official release: refused under K49's name unless asked.
    with pytest.raises(K49Error, match="fail verification.*--no-verify"):
        load_dataset("k49", tmp_path, offline=True)
    ds = load_dataset("k49", tmp_path, offline=True, verify=False)
    assert ds.train_images.shape == (12, 28, 28) and ds.verified is False
    assert ds.checksums == {e.name: e.md5 for e in table.values()}


def test_fetch_replaces_a_wrong_file_already_there(served, tmp_path):
    server, table = served
    target = tmp_path / "k49" / table["classmap"].name
    target.parent.mkdir(parents=True)
    target.write_text("old release\n")
    fetch("k49", tmp_path, [server.url + "/good"], progress=False, files=table)
    assert verify("k49", tmp_path, files=table)[target.name] == "verified"
    assert len(gets(server)) == 5
    # the old file is kept aside, not lost
    kept = target.with_name(target.name + ".size-mismatch")
    assert kept.read_text() == "old release\n"


def test_fetch_with_progress_bar_outside_a_terminal(served, tmp_path, capsys):
    server, table = served
    fetch("k49", tmp_path, [server.url + "/good"], progress=True, files=table)
    assert capsys.readouterr().err == ""  # no bar frames in logs and pipes


def test_rich_bar_speaks_tqdm(served, tmp_path):
    """The object handed to pooch as its progress bar takes tqdm's calls and fills up."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    server, table = served
    entry = table["train_images"]
    console = Console(file=io.StringIO(), force_terminal=True)
    with Progress(console=console) as progress:
        reason, _ = fetch_mod._download_one(
            f"{server.url}/good/{entry.name}",
            tmp_path / entry.name,
            entry,
            timeout=5,
            retries=0,
            progress=progress,
        )
        task = progress.tasks[0]
        assert reason is None
        assert task.total == entry.size
        assert task.completed == entry.size


# --- mirrors ---------------------------------------------------------------------------------


def test_first_mirror_404_second_works(served, tmp_path):
    server, table = served
    fetch(
        "k49",
        tmp_path,
        [server.url + "/missing", server.url + "/good"],
        progress=False,
        files=table,
    )
    assert set(verify("k49", tmp_path, files=table).values()) == {"verified"}
    assert [r[2] for r in gets(server, "/missing/")] == [404] * 5
    assert [r[2] for r in gets(server, "/good/")] == [200] * 5


def test_dead_mirror_is_skipped_after_first_failure(served, tmp_path, free_port):
    server, table = served
    dead = f"http://127.0.0.1:{free_port}/"
    fetch("k49", tmp_path, [dead, server.url + "/good"], progress=False, retries=0, files=table)
    assert set(verify("k49", tmp_path, files=table).values()) == {"verified"}


def test_checksum_verified_whatever_the_mirror(served, tmp_path):
    """A mirror serving a different file is refused and the next one used."""
    server, table = served
    (server.root / "evil").mkdir()
    for entry in table.values():
        data = (server.root / "good" / entry.name).read_bytes()
        (server.root / "evil" / entry.name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    fetch(
        "k49", tmp_path, [server.url + "/evil", server.url + "/good"], progress=False, files=table
    )
    assert set(verify("k49", tmp_path, files=table).values()) == {"verified"}
    assert len(gets(server, "/evil/")) == 5


# --- failures ---------------------------------------------------------------------------------


def test_checksum_mismatch(served, tmp_path):
    server, table = served
    entry = table["train_labels"]
    table["train_labels"] = DataFile(entry.name, entry.size, "0" * 32)
    with pytest.raises(K49Error) as err:
        fetch("k49", tmp_path, [server.url + "/good"], progress=False, files=table)
    url = f"{server.url}/good/{entry.name}"
    assert_clean_failure(err.value, tmp_path, entry.name, url)
    assert "md5 mismatch" in str(err.value)
    assert "5 February 2019" in str(err.value)
    assert entry.md5 in str(err.value)  # what was actually received
    assert len(gets(server, entry.name)) == 1  # a checksum mismatch is not retried


def test_truncated_file(served, tmp_path):
    server, table = served
    entry = table["test_images"]
    path = server.root / "good" / entry.name
    path.write_bytes(path.read_bytes()[: entry.size // 2])
    with pytest.raises(K49Error) as err:
        fetch("k49", tmp_path, [server.url + "/good"], progress=False, retries=1, files=table)
    assert_clean_failure(err.value, tmp_path, entry.name, f"{server.url}/good/{entry.name}")
    assert "truncated" in str(err.value)
    assert f"got {entry.size // 2} of {entry.size} bytes" in str(err.value)
    assert len(gets(server, entry.name)) == 2  # retried once


def test_connection_dropped_mid_download_then_retry_succeeds(served, tmp_path):
    server, table = served
    name = table["train_images"].name
    server.faults[f"/good/{name}"] = ["cut"]
    fetch("k49", tmp_path, [server.url + "/good"], progress=False, retries=1, files=table)
    assert verify("k49", tmp_path, files=table)[name] == "verified"
    assert len(gets(server, name)) == 2


def test_connection_dropped_every_time(served, tmp_path):
    server, table = served
    name = table["train_images"].name
    server.faults[f"/good/{name}"] = ["cut", "cut"]
    with pytest.raises(K49Error) as err:
        fetch("k49", tmp_path, [server.url + "/good"], progress=False, retries=1, files=table)
    assert_clean_failure(err.value, tmp_path, name, f"{server.url}/good/{name}")
    assert "truncated" in str(err.value)


def test_server_error_is_retried(served, tmp_path):
    server, table = served
    name = table["classmap"].name
    server.faults[f"/good/{name}"] = [503]
    fetch("k49", tmp_path, [server.url + "/good"], progress=False, retries=2, files=table)
    assert [r[2] for r in gets(server, name)] == [503, 200]


def test_http_404(served, tmp_path):
    server, table = served
    first = table["train_images"].name
    with pytest.raises(K49Error) as err:
        fetch("k49", tmp_path, [server.url + "/nowhere"], progress=False, files=table)
    assert_clean_failure(err.value, tmp_path, first, f"{server.url}/nowhere/{first}")
    assert "HTTP 404" in str(err.value)
    assert len(gets(server)) == 1  # a 404 is not retried
    assert str(tmp_path / "k49") in str(err.value)  # where to put the files by hand


def test_every_mirror_failing_lists_what_was_tried(served, tmp_path, free_port):
    server, table = served
    dead = f"http://127.0.0.1:{free_port}"
    with pytest.raises(K49Error) as err:
        fetch(
            "k49",
            tmp_path,
            [server.url + "/a", dead, server.url + "/b"],
            progress=False,
            retries=0,
            files=table,
        )
    message = str(err.value)
    first = table["train_images"].name
    for base in (server.url + "/a/", dead + "/", server.url + "/b/"):
        assert base + first in message
    assert message.index("/a/") < message.index(dead) < message.index("/b/")
    assert_clean_failure(err.value, tmp_path, first, dead + "/" + first)


def test_connection_refused(tmp_path, free_port, k49_files):
    table = k49_files(tmp_path / "src")
    url = f"http://127.0.0.1:{free_port}/"
    start = time.monotonic()
    with pytest.raises(K49Error) as err:
        fetch("k49", tmp_path / "data", [url], progress=False, retries=1, files=table)
    assert time.monotonic() - start < 10
    first = table["train_images"].name
    assert_clean_failure(err.value, tmp_path / "data", first, url + first)
    assert "connection refused" in str(err.value)
    assert "2 tries" in str(err.value)


def test_timeout_does_not_hang(tmp_path, k49_files):
    """A host that accepts connections but never answers fails after the timeout."""
    table = k49_files(tmp_path / "src")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        start = time.monotonic()
        with pytest.raises(K49Error) as err:
            fetch(
                "k49", tmp_path / "data", [url], progress=False, timeout=0.3, retries=0, files=table
            )
        assert time.monotonic() - start < 5
    first = table["train_images"].name
    assert_clean_failure(err.value, tmp_path / "data", first, url + first)
    assert "timed out" in str(err.value)


def test_synthetic_cannot_be_fetched(tmp_path):
    with pytest.raises(K49Error, match="k49 data synth"):
        fetch("synthetic", tmp_path, ["http://127.0.0.1:9/"])


def test_unknown_dataset(tmp_path):
    with pytest.raises(K49Error, match="kmnist"):
        fetch("kmnst", tmp_path)


def test_non_http_base_url(tmp_path):
    with pytest.raises(K49Error, match="http://"):
        fetch("k49", tmp_path, ["ftp.example.org/k49"])


def test_offline_load_of_empty_dir_says_fetch(tmp_path):
    with pytest.raises(K49Error, match="k49 data fetch"):
        load_dataset("k49", tmp_path, offline=True)


# --- verify -----------------------------------------------------------------------------------


def test_verify_statuses(tmp_path, k49_files):
    table = k49_files(tmp_path / "k49")
    d = tmp_path / "k49"
    (d / table["train_labels"].name).unlink()
    (d / table["test_labels"].name).write_bytes(b"x")
    path = d / table["classmap"].name
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b"?")
    status = verify("k49", tmp_path, files=table)
    assert status == {
        table["train_images"].name: "verified",
        table["train_labels"].name: "missing",
        table["test_images"].name: "verified",
        table["test_labels"].name: "size mismatch",
        table["classmap"].name: "md5 mismatch",
    }
    assert set(verify("k49", tmp_path).values()) <= {"missing", "size mismatch"}  # real table


def test_verify_synthetic_is_generated(tmp_path, k49_files):
    k49_files(tmp_path / "synthetic")
    assert set(verify("synthetic", tmp_path).values()) == {"generated"}
    assert set(verify("synthetic", tmp_path / "nowhere").values()) == {"missing"}


# --- base URLs --------------------------------------------------------------------------------


def test_base_urls_official_only():
    assert base_urls_from((), {}, OFFICIAL_K49_URL) == [OFFICIAL_K49_URL]
    assert base_urls_from((), {}, None) == []


def test_base_urls_cli_first_then_official():
    urls = base_urls_from(
        ["http://a/x", "http://b/y/"], {"K49_BASE_URL": "http://env/"}, OFFICIAL_K49_URL
    )
    assert urls == ["http://a/x/", "http://b/y/", OFFICIAL_K49_URL]


def test_base_urls_env_when_no_cli():
    urls = base_urls_from((), {"K49_BASE_URL": " http://e1  http://e2/ "}, OFFICIAL_K49_URL)
    assert urls == ["http://e1/", "http://e2/", OFFICIAL_K49_URL]


def test_base_urls_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("K49_BASE_URL", "http://mirror")
    assert base_urls_from(official=OFFICIAL_K49_URL) == ["http://mirror/", OFFICIAL_K49_URL]


def test_base_urls_user_placed_official_keeps_order():
    official = OFFICIAL_K49_URL.rstrip("/")  # listed without the slash: still the official one
    urls = base_urls_from([official, "http://m/"], {}, OFFICIAL_K49_URL)
    assert urls == [OFFICIAL_K49_URL, "http://m/"]


def test_base_urls_dedupe_and_reject_non_http():
    assert base_urls_from(["http://m", "http://m/", ""], {}, None) == ["http://m/"]
    with pytest.raises(K49Error, match="--base-url"):
        base_urls_from(["m.example.org"], {}, None)


def test_fetch_without_urls_uses_env(served, tmp_path, monkeypatch):
    server, table = served
    monkeypatch.setenv("K49_BASE_URL", server.url + "/good")
    # the official URL is appended but never reached: every file comes from the env mirror
    fetch("k49", tmp_path, progress=False, files=table)
    assert set(verify("k49", tmp_path, files=table).values()) == {"verified"}
