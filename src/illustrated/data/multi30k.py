"""The Multi30k German-English translation data (task 1, raw files), downloaded, checked and cached.

Multi30k (Elliott, Frank, Sima'an and Specia, 2016) pairs 31,014 English descriptions of Flickr
images with German translations: 29,000 pairs for training, 1,014 for validation and two test
sets of 1,000 (``test2016`` and ``test2017``). The files come from the ``multi30k/dataset``
repository on GitHub at a pinned commit, so their SHA-256 sums below never change. No torchtext and
no spaCy model is involved.

Where the files are read from, first match wins:

1. ``local_dir`` (argument) or ``$ILLUSTRATED_MULTI30K_DIR``: a folder that already contains the
   ``.gz`` files. Nothing is downloaded, and the files are checked against the sums.
2. the cache folder, ``cache_dir`` (argument), else ``$ILLUSTRATED_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/illustrated``, else ``~/.cache/illustrated``; files live in its
   ``multi30k`` subfolder. A missing file is downloaded from ``base_url`` (argument), else
   ``$ILLUSTRATED_MULTI30K_URL``, else :data:`DEFAULT_BASE_URL`.

Example::

    from illustrated.data.multi30k import load_multi30k
    train = load_multi30k("train", direction="de-en")
    train.source[0], train.target[0]   # ('Zwei junge weiße Männer ...', 'Two young, White males ...')
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_BASE_URL",
    "MULTI30K_SHA256",
    "SPLITS",
    "DIRECTIONS",
    "Multi30kError",
    "Multi30kChecksumError",
    "Multi30kUnavailableError",
    "TranslationPairs",
    "default_cache_dir",
    "find_local_multi30k",
    "fetch_multi30k",
    "load_multi30k",
]

COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/multi30k/dataset/{COMMIT}/data/task1/raw/"

# SHA-256 of each raw file at the pinned commit.
MULTI30K_SHA256 = {
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
}

# Split name -> file stem. "valid" and "val" name the same split.
SPLITS = {
    "train": "train",
    "valid": "val",
    "val": "val",
    "test2016": "test_2016_flickr",
    "test2017": "test_2017_flickr",
}
DIRECTIONS = ("de-en", "en-de")

ENV_LOCAL_DIR = "ILLUSTRATED_MULTI30K_DIR"
ENV_CACHE_DIR = "ILLUSTRATED_CACHE_DIR"
ENV_BASE_URL = "ILLUSTRATED_MULTI30K_URL"
_CHUNK = 1 << 16


class Multi30kError(RuntimeError):
    """Base class of the errors raised when the Multi30k files cannot be had."""


class Multi30kChecksumError(Multi30kError):
    """A file's SHA-256 sum differs from the pinned one."""

    def __init__(self, name: str, path: Path, expected: str, actual: str, url: str):
        self.name, self.path, self.expected, self.actual, self.url = name, path, expected, actual, url
        super().__init__(
            f"Multi30k file {name} failed its checksum check: expected SHA-256 {expected}, "
            f"got {actual} (file: {path}). The file is damaged or is not the pinned version. "
            f"To fetch it by hand, download {url}, check it with `sha256sum {name}`, "
            f"and put it in {path.parent}."
        )


class Multi30kUnavailableError(Multi30kError):
    """A file is missing locally and could not be downloaded."""


@dataclass(frozen=True)
class TranslationPairs:
    """Aligned sentences of one split and one direction: ``source[i]`` translates to ``target[i]``."""

    split: str
    direction: str
    source: list[str]
    target: list[str]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index):
        return self.source[index], self.target[index]


def default_cache_dir() -> Path:
    """Return the folder that caches downloads: ``$ILLUSTRATED_CACHE_DIR``, ``$XDG_CACHE_HOME/illustrated`` or ``~/.cache/illustrated``."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "illustrated"


def find_local_multi30k() -> Path | None:
    """Return a folder that already contains every Multi30k file, or None.

    Looks at ``$ILLUSTRATED_MULTI30K_DIR`` when it is set, and only there, because the setting is
    the user's choice. Otherwise, when the package runs from a source checkout
    (``<checkout>/src/illustrated``), looks at ``<checkout>/../shared/data/multi30k``. Only presence
    is checked here; :func:`fetch_multi30k` checks the sums.
    """
    candidates = []
    package_dir = Path(__file__).resolve().parents[1]  # .../src/illustrated
    if os.environ.get(ENV_LOCAL_DIR):
        candidates.append(Path(os.environ[ENV_LOCAL_DIR]).expanduser())
    elif package_dir.parent.name == "src":
        candidates.append(package_dir.parents[2] / "shared" / "data" / "multi30k")
    for folder in candidates:
        if all((folder / name).is_file() for name in MULTI30K_SHA256):
            return folder
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(name: str, path: Path, url: str) -> None:
    actual = _sha256(path)
    if actual != MULTI30K_SHA256[name]:
        raise Multi30kChecksumError(name, path, MULTI30K_SHA256[name], actual, url)


def _download(name: str, url: str, destination: Path, timeout: float) -> None:
    """Download ``url`` to ``destination`` atomically: a temporary file in the same folder, checked, then renamed.

    On any failure the temporary file is removed, so ``destination`` either contains a file with the
    right sum or does not exist.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{name}.", suffix=".part", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    expected_length = response.headers.get("Content-Length")
                    received = 0
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        handle.write(chunk)
                        received += len(chunk)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                raise Multi30kUnavailableError(
                    f"could not download Multi30k file {name} from {url}: {error}. "
                    f"Without network access, copy the eight Multi30k .gz files "
                    f"({', '.join(sorted(MULTI30K_SHA256))}) into {destination.parent}, "
                    f"or pass local_dir=FOLDER (command line: --data-dir FOLDER), "
                    f"or set {ENV_LOCAL_DIR}=FOLDER, where FOLDER contains them."
                ) from error
        if expected_length is not None and received != int(expected_length):
            raise Multi30kUnavailableError(
                f"the download of Multi30k file {name} from {url} was cut short: received {received} of "
                f"{expected_length} bytes. Run again to retry, or fetch the file by hand into {destination.parent}."
            )
        _verify(name, temporary, url)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def fetch_multi30k(names=None, *, local_dir=None, cache_dir=None, base_url: str | None = None,
                   timeout: float = 60.0) -> Path:
    """Make sure the Multi30k files are present and intact; return the folder that contains them.

    Args:
        names: file names to fetch (keys of :data:`MULTI30K_SHA256`); None fetches all eight.
        local_dir: a folder that already contains the files; nothing is downloaded then. Defaults to
            ``$ILLUSTRATED_MULTI30K_DIR`` when set.
        cache_dir: the cache folder (the files go in its ``multi30k`` subfolder); defaults to
            :func:`default_cache_dir`.
        base_url: where to download from, ending in ``/``; defaults to ``$ILLUSTRATED_MULTI30K_URL``
            or :data:`DEFAULT_BASE_URL`.
        timeout: seconds to wait for the server before giving up on a file.

    Raises:
        Multi30kChecksumError: a file, local or downloaded, has the wrong SHA-256 sum.
        Multi30kUnavailableError: a file is missing from ``local_dir``, or could not be downloaded.
    """
    names = sorted(MULTI30K_SHA256) if names is None else list(names)
    unknown = [name for name in names if name not in MULTI30K_SHA256]
    if unknown:
        raise ValueError(f"unknown Multi30k file(s) {unknown}; expected names from {sorted(MULTI30K_SHA256)}")
    base_url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    from_environment = local_dir is None and bool(os.environ.get(ENV_LOCAL_DIR))
    if from_environment:
        local_dir = os.environ[ENV_LOCAL_DIR]

    if local_dir is not None:
        folder = Path(local_dir).expanduser()
        missing = [name for name in names if not (folder / name).is_file()]
        if missing and from_environment:
            raise Multi30kUnavailableError(
                f"the Multi30k folder {folder}, set by ${ENV_LOCAL_DIR}, is missing {', '.join(missing)}; "
                f"download them from {base_url} into that folder, or point {ENV_LOCAL_DIR} at a folder "
                f"that contains them, or unset it to use the cache folder."
            )
        if missing:
            raise Multi30kUnavailableError(
                f"the Multi30k folder {folder} is missing {', '.join(missing)}; "
                f"download them from {base_url} into that folder, or give another folder."
            )
        for name in names:
            _verify(name, folder / name, base_url + name)
        return folder

    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = folder / "multi30k"
    for name in names:
        path = folder / name
        if path.is_file():
            _verify(name, path, base_url + name)
        else:
            _download(name, base_url + name, path, timeout)
    return folder


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n").strip() for line in handle]


def load_multi30k(split: str, direction: str = "de-en", *, local_dir=None, cache_dir=None,
                  base_url: str | None = None, limit: int | None = None) -> TranslationPairs:
    """Load one split of Multi30k as aligned source and target sentences.

    Args:
        split: ``"train"``, ``"valid"`` (or ``"val"``), ``"test2016"`` or ``"test2017"``.
        direction: ``"de-en"`` (German to English) or ``"en-de"``.
        local_dir, cache_dir, base_url: where the files come from, as in :func:`fetch_multi30k`.
        limit: keep only the first ``limit`` pairs (for quick runs and tests).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Multi30k split {split!r}; expected one of {sorted(SPLITS)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of pairs or None, got {limit!r}")
    stem = SPLITS[split]
    source_language, target_language = direction.split("-")
    names = [f"{stem}.{source_language}.gz", f"{stem}.{target_language}.gz"]
    folder = fetch_multi30k(names, local_dir=local_dir, cache_dir=cache_dir, base_url=base_url)
    source, target = (_read_lines(folder / name) for name in names)
    if len(source) != len(target):
        raise Multi30kError(
            f"{names[0]} has {len(source)} lines but {names[1]} has {len(target)}; the files must be aligned"
        )
    if limit is not None:
        source, target = source[:limit], target[:limit]
    return TranslationPairs(split if split != "val" else "valid", direction, source, target)
