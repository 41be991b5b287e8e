"""``md.keras.utils.get_file``: files from Keras' cache folder, downloaded when missing, checked by hash.

The cache is Keras' own: ``~/.keras/<cache_subdir>`` (or ``$KERAS_HOME/<cache_subdir>``), so files fetched by Keras
before are found. A file is only read, hashed and (when asked) unpacked; nothing in it is ever run. Without network
a missing file is an error naming the URL and the path looked in; there is no silent substitute.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

__all__ = ["get_file", "validate_file"]

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


def _cache_root(cache_dir):
    if cache_dir is not None:
        return os.path.expanduser(cache_dir)
    if os.environ.get("KERAS_HOME"):
        return os.path.expanduser(os.environ["KERAS_HOME"])
    return os.path.join(os.path.expanduser("~"), ".keras")


def _hash_file(path, algorithm, chunk_size=65535):
    h = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()   # noqa: S324 -- a checksum Keras' files use
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def _algorithm(file_hash, hash_algorithm):
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    if hash_algorithm != "auto":
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}")
    return "sha256" if len(file_hash) == 64 else "md5"


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file at ``fpath`` has the hex digest ``file_hash`` (sha256, or md5 for a 32-digit hash).

    Example:
        >>> md.keras.utils.validate_file("mnist.npz", "731c5ac6...")   # the full 64-digit sha256
    """
    return _hash_file(fpath, _algorithm(file_hash, algorithm), chunk_size) == str(file_hash).lower()


def _download(origin, fpath):
    """Fetch ``origin`` into ``fpath`` through a temporary file (a failed download leaves nothing behind)."""
    scheme = urllib.parse.urlparse(origin).scheme
    if scheme not in ("http", "https", "ftp", "file"):
        raise ValueError(f"get_file: origin must be an http(s), ftp or file URL, got {origin!r}")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(fpath), prefix=".download-")
    os.close(fd)
    try:
        with urllib.request.urlopen(origin, timeout=60) as response, open(tmp, "wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
        os.replace(tmp, fpath)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise OSError(f"get_file: could not download {origin} to {fpath} ({reason}); no network? Put the file at "
                      f"{fpath} to use it offline") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _inside(root, name):
    target = os.path.realpath(os.path.join(root, name))
    return target == os.path.realpath(root) or target.startswith(os.path.realpath(root) + os.sep)


def _extract(fpath, path, archive_format="auto"):
    """Unpack a tar or zip archive into ``path`` (members that would land outside it, links and devices refused)."""
    formats = ("tar", "zip") if archive_format in ("auto", None) else (
        (archive_format,) if isinstance(archive_format, str) else tuple(archive_format))
    if "tar" in formats and tarfile.is_tarfile(fpath):
        with tarfile.open(fpath) as archive:
            for member in archive.getmembers():
                if not _inside(path, member.name) or not (member.isfile() or member.isdir()):
                    raise ValueError(f"get_file: archive {fpath} holds an unsafe member {member.name!r}")
            archive.extractall(path, filter="data")
        return True
    if "zip" in formats and zipfile.is_zipfile(fpath):
        with zipfile.ZipFile(fpath) as archive:
            for name in archive.namelist():
                if not _inside(path, name):
                    raise ValueError(f"get_file: archive {fpath} holds an unsafe member {name!r}")
            archive.extractall(path)
        return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of a file from Keras' cache, downloading ``origin`` there when it is missing (or when its hash
    does not match ``file_hash``, or ``force_download``).

    The file lives at ``<cache_dir>/<cache_subdir>/<fname>``; ``cache_dir`` defaults to ``$KERAS_HOME`` or
    ``~/.keras``, ``fname`` to the last part of the URL. ``file_hash`` is a sha256 (64 hex digits) or md5 (32) digest
    checked on the cached or downloaded file. ``extract=True`` unpacks a tar/zip archive into
    ``<fname without its archive suffix>_extracted`` beside it and returns that folder; ``untar=True`` (older
    Keras) unpacks ``<fname>.tar.gz`` into the cache folder and returns ``<cache>/<fname>``. Without network a
    missing file raises ``OSError`` naming the URL and the path looked in.

    Example:
        >>> path = md.keras.utils.get_file(
        ...     "mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        ...     file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if fname is None:
        fname = os.path.basename(urllib.parse.urlparse(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot infer fname from origin {origin!r}; pass fname=")
    fname = os.fspath(fname)
    if os.path.isabs(fname) or os.path.basename(fname) != fname:
        raise ValueError(f"get_file: fname must be a plain file name, got {fname!r}")
    datadir = os.path.join(_cache_root(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    untar_fpath = os.path.join(datadir, fname)
    fpath = untar_fpath + ".tar.gz" if untar and not fname.endswith(".tar.gz") else untar_fpath
    file_hash = file_hash or md5_hash
    if md5_hash is not None and file_hash == md5_hash:
        hash_algorithm = "md5"

    download = force_download or not os.path.exists(fpath)
    if not download and file_hash is not None and not validate_file(fpath, file_hash, hash_algorithm):
        download = True         # a stale or corrupted copy is fetched again, as Keras does
    if download:
        _download(origin, fpath)
        if file_hash is not None and not validate_file(fpath, file_hash, hash_algorithm):
            algorithm = _algorithm(file_hash, hash_algorithm)
            raise ValueError(f"get_file: the file downloaded from {origin} to {fpath} has {algorithm} "
                             f"{_hash_file(fpath, algorithm)}, not the expected {file_hash}; it may be corrupted")

    if untar:
        if not os.path.exists(untar_fpath) or download:
            if not _extract(fpath, datadir, "tar"):
                raise ValueError(f"get_file: {fpath} is not a tar archive (untar=True)")
        return untar_fpath
    if extract:
        base = next((fpath[:-len(s)] for s in _ARCHIVE_SUFFIXES if fpath.endswith(s)), fpath)
        target = base + "_extracted"
        if download or not os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            if not _extract(fpath, target, archive_format):
                shutil.rmtree(target, ignore_errors=True)
                raise ValueError(f"get_file: {fpath} is not a tar or zip archive (extract=True)")
        return target
    return fpath
