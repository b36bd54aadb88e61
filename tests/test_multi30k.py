"""The Multi30k loader against a local HTTP server on 127.0.0.1 serving good, corrupt and truncated files."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest
from training_support import closed_port_url

from illustrated.data import multi30k
from illustrated.data.multi30k import (
    MULTI30K_SHA256,
    Multi30kChecksumError,
    Multi30kUnavailableError,
    default_cache_dir,
    fetch_multi30k,
    load_multi30k,
)

ROOT = Path(__file__).resolve().parents[1]
VAL_FILES = ["val.de.gz", "val.en.gz"]


def shared_multi30k() -> Path | None:
    """Return the local copy of the files: $ILLUSTRATED_MULTI30K_DIR, else ../shared/data/multi30k beside the repository."""
    candidates = [Path(os.environ["ILLUSTRATED_MULTI30K_DIR"])] if os.environ.get("ILLUSTRATED_MULTI30K_DIR") else []
    candidates.append(ROOT.parent / "shared" / "data" / "multi30k")
    for folder in candidates:
        if all((folder / name).is_file() for name in MULTI30K_SHA256):
            return folder
    return None


LOCAL = shared_multi30k()
needs_local_copy = pytest.mark.skipif(
    LOCAL is None,
    reason="no local Multi30k copy: set ILLUSTRATED_MULTI30K_DIR or put the files in ../shared/data/multi30k",
)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serve /good/NAME intact, /corrupt/NAME with one byte changed, /short/NAME cut in half with a
    matching Content-Length, and /cut/NAME announcing the full length but closing half way."""

    files: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the name http.server calls
        type(self).requests.append(self.path)
        _, mode, name = self.path.split("/", 2)
        body = self.files.get(name)
        if body is None or mode not in ("good", "corrupt", "short", "cut"):
            self.send_error(404)
            return
        announced = len(body)
        if mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        elif mode == "short":
            body = body[: len(body) // 2]
            announced = len(body)
        elif mode == "cut":
            body = body[: len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if mode == "cut":
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if LOCAL is None:
        pytest.skip("no local Multi30k copy to serve")
    _Handler.files = {name: (LOCAL / name).read_bytes() for name in VAL_FILES}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_environment_overrides(monkeypatch, tmp_path):
    for name in (multi30k.ENV_LOCAL_DIR, multi30k.ENV_CACHE_DIR, multi30k.ENV_BASE_URL, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a default cache there, never the real one


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_good_files(server, tmp_path):
    folder = fetch_multi30k(VAL_FILES, cache_dir=tmp_path, base_url=f"{server}/good/")
    assert folder == tmp_path / "multi30k"
    assert leftovers(folder) == VAL_FILES
    for name in VAL_FILES:
        assert (folder / name).read_bytes() == (LOCAL / name).read_bytes()


def test_cached_files_not_downloaded_again(server, tmp_path):
    fetch_multi30k(VAL_FILES, cache_dir=tmp_path, base_url=f"{server}/good/")
    before = len(_Handler.requests)
    fetch_multi30k(VAL_FILES, cache_dir=tmp_path, base_url=f"{server}/good/")
    assert len(_Handler.requests) == before


def test_corrupt_download_raises_and_leaves_nothing(server, tmp_path):
    url = f"{server}/corrupt/"
    with pytest.raises(Multi30kChecksumError) as caught:
        fetch_multi30k(["val.de.gz"], cache_dir=tmp_path, base_url=url)
    message = str(caught.value)
    assert "val.de.gz" in message
    assert MULTI30K_SHA256["val.de.gz"] in message
    assert caught.value.actual != caught.value.expected
    assert caught.value.actual in message
    assert url + "val.de.gz" in message  # how to fetch it by hand
    assert "sha256sum" in message
    assert leftovers(tmp_path) == []


def test_short_download_fails_checksum(server, tmp_path):
    with pytest.raises(Multi30kChecksumError, match="val.en.gz"):
        fetch_multi30k(["val.en.gz"], cache_dir=tmp_path, base_url=f"{server}/short/")
    assert leftovers(tmp_path) == []


def test_cut_connection_raises_and_leaves_nothing(server, tmp_path):
    with pytest.raises(Multi30kUnavailableError, match="val.de.gz"):
        fetch_multi30k(["val.de.gz"], cache_dir=tmp_path, base_url=f"{server}/cut/")
    assert leftovers(tmp_path) == []


def test_failed_download_keeps_good_files(server, tmp_path):
    fetch_multi30k(["val.en.gz"], cache_dir=tmp_path, base_url=f"{server}/good/")
    with pytest.raises(Multi30kChecksumError):
        fetch_multi30k(VAL_FILES, cache_dir=tmp_path, base_url=f"{server}/corrupt/")
    assert leftovers(tmp_path) == ["val.en.gz"]


def test_missing_file_on_server(server, tmp_path):
    with pytest.raises(Multi30kUnavailableError, match="404"):
        fetch_multi30k(["train.de.gz"], cache_dir=tmp_path, base_url=f"{server}/good/")
    assert leftovers(tmp_path) == []


def test_no_network_says_where_to_put_files(tmp_path):
    with pytest.raises(Multi30kUnavailableError) as caught:
        fetch_multi30k(["val.de.gz"], cache_dir=tmp_path, base_url=closed_port_url(), timeout=5)
    message = str(caught.value)
    assert str(tmp_path / "multi30k") in message
    assert "ILLUSTRATED_MULTI30K_DIR" in message
    assert "--data-dir" in message
    assert leftovers(tmp_path) == []


def test_damaged_cache_file_is_reported(tmp_path):
    folder = tmp_path / "multi30k"
    folder.mkdir()
    (folder / "val.de.gz").write_bytes(b"not the real file")
    with pytest.raises(Multi30kChecksumError, match="val.de.gz") as caught:
        fetch_multi30k(["val.de.gz"], cache_dir=tmp_path, base_url=closed_port_url())
    assert caught.value.path == folder / "val.de.gz"


def test_environment_selects_url_and_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv(multi30k.ENV_BASE_URL, f"{server}/good")  # no trailing slash: one is added
    monkeypatch.setenv(multi30k.ENV_CACHE_DIR, str(tmp_path / "env-cache"))
    folder = fetch_multi30k(["val.en.gz"])
    assert folder == tmp_path / "env-cache" / "multi30k"
    assert leftovers(folder) == ["val.en.gz"]


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "illustrated"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "illustrated"
    monkeypatch.setenv(multi30k.ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


@needs_local_copy
def test_local_folder_split_sizes():
    sizes = {"train": 29000, "valid": 1014, "test2016": 1000, "test2017": 1000}
    for split, size in sizes.items():
        pairs = load_multi30k(split, local_dir=LOCAL)
        assert len(pairs) == size, split
        assert all(pairs.source), split
        assert all(pairs.target), split


@needs_local_copy
def test_both_directions_swap_sides():
    german_english = load_multi30k("valid", "de-en", local_dir=LOCAL)
    english_german = load_multi30k("valid", "en-de", local_dir=LOCAL, limit=5)
    assert english_german.source == german_english.target[:5]
    assert english_german.target == german_english.source[:5]
    assert german_english.source[0].startswith("Eine Gruppe")  # the first validation sentence is German
    assert english_german.direction == "en-de"


@needs_local_copy
def test_local_folder_from_environment(monkeypatch):
    monkeypatch.setenv(multi30k.ENV_LOCAL_DIR, str(LOCAL))
    assert fetch_multi30k(VAL_FILES, base_url=closed_port_url()) == LOCAL


def test_find_local_uses_only_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(multi30k.ENV_LOCAL_DIR, str(tmp_path))
    assert multi30k.find_local_multi30k() is None  # the setting names a folder without the files, so no other folder counts
    for name in MULTI30K_SHA256:
        (tmp_path / name).write_bytes(b"")
    assert multi30k.find_local_multi30k() == tmp_path  # only presence is checked here, and fetch_multi30k checks the sums


@needs_local_copy
def test_find_local_beside_checkout(monkeypatch):
    monkeypatch.delenv(multi30k.ENV_LOCAL_DIR, raising=False)
    found = multi30k.find_local_multi30k()
    if found is None:
        pytest.skip("the package is installed outside a source checkout, so ../shared is not looked at")
    assert found.resolve() == (ROOT.parent / "shared" / "data" / "multi30k").resolve()


def test_local_folder_missing_file(tmp_path):
    with pytest.raises(Multi30kUnavailableError, match="val.en.gz"):
        fetch_multi30k(VAL_FILES, local_dir=tmp_path)


def test_local_folder_with_wrong_file(tmp_path):
    (tmp_path / "val.de.gz").write_bytes(b"damaged")
    with pytest.raises(Multi30kChecksumError, match="val.de.gz"):
        fetch_multi30k(["val.de.gz"], local_dir=tmp_path)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="split"):
        load_multi30k("dev")
    with pytest.raises(ValueError, match="direction"):
        load_multi30k("train", "de-fr")
    with pytest.raises(ValueError, match="unknown Multi30k file"):
        fetch_multi30k(["train.fr.gz"])
    with pytest.raises(ValueError, match="limit"):
        load_multi30k("train", limit=0)


def test_empty_environment_folder_named(tmp_path, monkeypatch):
    monkeypatch.setenv(multi30k.ENV_LOCAL_DIR, str(tmp_path))
    with pytest.raises(Multi30kUnavailableError, match=rf"{tmp_path}, set by \$ILLUSTRATED_MULTI30K_DIR, is missing"):
        load_multi30k("valid")
