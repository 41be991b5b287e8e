"""Where dataset files live, and fetching them once: mirrors in order, SHA-256 checked, written atomically.

A dataset ``name`` lives in ``$MINIDL_DATA/<name>/`` (default ``~/.minidl/data/<name>/``) unless
the caller passes ``path=``. Nothing here touches the network when the files are already present.
Files in that default folder are checked against their published digest every time they are loaded, not
only when downloaded (a file planted or damaged there is refused); a file the caller names with ``path=``
is the caller's own and is read as is, by parsers that never execute code from it.
"""
import hashlib
import os
import tempfile
from urllib.error import URLError
from urllib.request import urlopen

_CHUNK = 1 << 20


def data_home(name):
    """The default folder of dataset ``name``: ``$MINIDL_DATA/<name>``, else ``~/.minidl/data/<name>``."""
    root = os.environ.get("MINIDL_DATA") or os.path.join(os.path.expanduser("~"), ".minidl", "data")
    return os.path.join(root, name)


def file_digest(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


_VERIFIED = {}      # (path, device, inode, size, mtime, ctime) -> digest already checked in this process


def verify(path, expected):
    """Raise ``ValueError`` naming ``path`` unless its digest is ``expected`` (cached while the file is unchanged)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if _VERIFIED.get(key) == expected:
        return
    got = file_digest(path, _algorithm(expected))
    if got != expected:
        raise ValueError(f"{path}: {_algorithm(expected).upper()} {got} does not match the published {expected}: "
                         "the file is damaged or not the original. Delete it (it is downloaded again), or pass "
                         "its path with path= (--data-path) to read your own copy as is")
    _VERIFIED[key] = expected


def _algorithm(expected):
    # NOTE: a few files (imdb_word_index.json) only have a published MD5; the length tells them apart.
    return "md5" if len(expected) == 32 else "sha256"


def download(filename, folder, mirrors, expected, timeout=60):
    """Fetch ``filename`` from the first mirror that serves it with the expected digest, into ``folder``.

    The bytes go to a temporary file in ``folder`` that is renamed into place only after the digest
    matches, so an interrupted download never leaves a half file under the real name.
    Returns the final path; raises ``OSError`` (network) or ``ValueError`` (digest) naming the URL.
    """
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, filename)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        try:
            h = hashlib.new(_algorithm(expected))
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != expected:
                raise ValueError(f"{url}: {_algorithm(expected).upper()} {h.hexdigest()} does not match the "
                                 f"published {expected}")
            os.replace(tmp, target)
            return target
        except (OSError, URLError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise OSError("could not download " + filename + ":\n  " + "\n  ".join(errors))


def missing_error(name, folder, missing, reason=None, extra=""):
    """The error for absent files: which ones, and the folder to put them in."""
    lines = [f"{name}: missing file(s) {', '.join(missing)} in {folder}.",
             f"Put them in {folder} (or pass path=, or set MINIDL_DATA to a folder holding '{name}/'){extra}."]
    if reason:
        lines.append(f"Downloading them failed: {reason}")
    return FileNotFoundError("\n".join(lines))


def ensure_files(name, folder, files, mirrors, download_ok=True, hint="", check=True):
    """Return the paths of ``files`` (filename -> digest) in ``folder``, downloading the absent ones once.

    With ``check`` (for minidl's own data folder), files already there must have their published digest.
    """
    paths = {f: os.path.join(folder, f) for f in files}
    missing = [f for f, p in paths.items() if not os.path.isfile(p)]
    if check:
        for f, p in paths.items():
            if f not in missing:
                verify(p, files[f])
    if missing and not download_ok:
        raise missing_error(name, folder, missing, extra=hint)
    for f in missing:
        try:
            download(f, folder, mirrors, files[f])
        except OSError as exc:
            still = [m for m in missing if not os.path.isfile(paths[m])]
            raise missing_error(name, folder, still, reason=str(exc), extra=hint) from exc
    return paths
