"""persistdict: a drop-in for the PersistDict package (0.2.x), over the persistdict Rust crate.

``PersistDict`` looks and acts like a ``dict`` whose items live in an LMDB database on disk,
shared by every thread and process that opens the same directory. Its constructor, its
dict protocol, ``d(a=1, b=2)`` (initialize once), pickle by default, key hashing and
cropping, ``expiration_days`` and logging are those of PersistDict 0.2.14; storage, expiry,
the integrity check and the maintenance thread are the Rust crate's (``persistdict._native``
releases the GIL around every call into it).

Databases written by PersistDict 0.2.x have another layout: import them once with
:func:`import_v02` (needs the original package installed).
"""

import base64
import datetime
import gc
import hashlib
import logging
import os
import pickle
import threading
import weakref
from pathlib import Path

from . import _native
from ._native import AlreadyInitializedError, Error, OpenedBeforeForkError, StillOpenError

__all__ = [
    "PersistDict",
    "Error",
    "StillOpenError",
    "AlreadyInitializedError",
    "OpenedBeforeForkError",
    "import_v02",
]

#: The version of the PersistDict API this package mirrors.
__VERSION__ = "0.2.14"

_logger = logging.getLogger("persistdict")
try:  # as the original: loguru when installed, else print
    from loguru import logger as _loguru
except ImportError:  # pragma: no cover - depends on the environment
    _loguru = None

_CALL_ONCE = "The __call__ method of PersistDict can only be called once. Just like a regular dict."

_ROUTINE = (
    "getting item at key",
    "setting item at key",
    "getting length",
    "checking if val_db contains key",
    "getting keys",
    "getting values",
    "getting items",
)


def key_to_string(key):
    """The original's default key serializer: base64 of the pickled key."""
    return base64.b64encode(pickle.dumps(key)).decode("utf-8")


def string_to_key(pickled_str):
    """The original's default key unserializer."""
    return pickle.loads(base64.b64decode(pickled_str.encode("utf-8")))


def dummy_key_serializer(inp):
    return inp.encode() if isinstance(inp, str) else inp


def dummy_key_unserializer(inp):
    return inp.decode() if hasattr(inp, "decode") else inp


dummy_value_serializer = dummy_key_serializer
dummy_value_unserializer = dummy_key_unserializer


def _to_bytes(obj, what):
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        return obj.encode("utf-8")
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise TypeError(f"{what} must return bytes or str, got {type(obj).__name__}")


# Every live PersistDict, to close their handles before a fork and to close handles
# on a directory that was deleted and recreated.
_LIVE = weakref.WeakValueDictionary()  # id -> PersistDict (dicts are unhashable)


def _before_fork():
    # LMDB environments cannot cross fork(): close every handle; parent and child
    # reopen theirs at their next call.
    for d in list(_LIVE.values()):
        native = d.__dict__.get("_native")
        if native is not None:
            try:
                native.close()
            except Exception:  # never break a fork
                pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)


def _dir_id(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return None


class _MaintenanceDone:
    """Stands for the original's ``_bg_task_complete`` event: the crate's maintenance run."""

    def __init__(self, owner):
        self._owner = weakref.ref(owner)

    def wait(self, timeout=None):
        owner = self._owner()
        if owner is None:
            return True
        return owner._native.wait_for_maintenance(1e6 if timeout is None else float(timeout))

    def is_set(self):
        return self.wait(0)


class _Meta(dict):
    """The metadata of one entry, as the original's ``metadata_db[key]``. Assigning
    ``atime`` backdates (or postdates) the entry for this handle's ``__expire__()``, held
    in memory as the original held it (in its LRU cache)."""

    def __init__(self, owner, ks, data):
        super().__init__(data)
        self._owner = owner
        self._ks = ks

    def __setitem__(self, k, v):
        super().__setitem__(k, v)
        if k == "atime":
            self._owner._atime_overrides[self._ks] = v


class _MetadataDb:
    """Read view of per-entry metadata by serialized key (the original's ``metadata_db``)."""

    def __init__(self, owner):
        self._owner = owner

    def __contains__(self, ks):
        try:
            return self._owner._native.contains(_to_bytes(ks, "a serialized key"))
        except TypeError:
            return False

    def __getitem__(self, ks):
        b = _to_bytes(ks, "a serialized key")
        times = self._owner._native.times(b)
        if times is None:
            raise KeyError(ks)
        ctime, atime = (datetime.datetime.fromtimestamp(t) for t in times)
        atime = self._owner._atime_overrides.get(b, atime)
        return _Meta(self._owner, b, {"ctime": ctime, "atime": atime})

    def __len__(self):
        return len(self._owner)


class _InfoDb:
    """The original's ``info_db``: ``already_called`` is read from the database; the other
    fields are informational and kept in memory."""

    def __init__(self, owner):
        self._owner = owner
        now = datetime.datetime.now()
        self._fields = {"version": __VERSION__, "ctime": now, "oldest_atime": now}

    def keys(self):
        return ["version", "ctime", "already_called", "oldest_atime"]

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, k):
        return k in self.keys()

    def __getitem__(self, k):
        if k == "already_called":
            return self._owner._native.is_initialized()
        return self._fields[k]

    def __setitem__(self, k, v):
        if k == "already_called":
            raise TypeError("already_called is kept in the database: call the dict once, or clear() it")
        self._fields[k] = v

    def __repr__(self):
        return repr(dict(self))


class PersistDict(dict):
    """A dict whose items live in an LMDB database: a drop-in for PersistDict 0.2.14.

    Args are the original's: ``database_path`` (a directory), ``expiration_days`` (entries
    unused for that long are removed at open, by the maintenance run, and by
    ``__expire__()``; 0 or None: never), ``key_serializer``/``key_unserializer`` (applied to
    the SHA-256 hex digest of each key, cropped to ``key_size_limit``), ``key_size_limit``,
    ``value_serializer``/``value_unserializer`` (pickle by default; ``None`` for both stores
    str/bytes as they are), ``caching`` (an in-memory LRU of 128 entries), ``verbose``
    (log through ``logging`` and loguru, or print without it), ``background_thread``
    (``True``: integrity check and expiry at open in a background thread; ``False``: in
    the constructor; ``"disabled"``: never), ``background_timeout`` (seconds, at least 5)
    and ``name`` (for logs; default: the directory name).
    """

    __VERSION__ = __VERSION__

    def __init__(
        self,
        database_path,
        expiration_days=0,
        key_serializer=key_to_string,
        key_unserializer=string_to_key,
        key_size_limit=511,
        value_serializer=pickle.dumps,
        value_unserializer=pickle.loads,
        caching=True,
        verbose=False,
        background_thread=True,
        background_timeout=30,
        name=None,
    ):
        super().__init__()
        if not isinstance(database_path, (str, os.PathLike)):
            raise TypeError(f"database_path must be a str or a path, got {type(database_path).__name__}")
        self.verbose = bool(verbose)
        self.name = name if name is not None else Path(database_path).name
        self._log(".__init__")
        if expiration_days is not None and (
            isinstance(expiration_days, bool) or not isinstance(expiration_days, (int, float)) or expiration_days < 0
        ):
            raise ValueError(f"expiration_days must be a number >= 0 or None, got {expiration_days!r}")
        if isinstance(key_size_limit, bool) or not isinstance(key_size_limit, int) or key_size_limit < 1:
            raise ValueError(f"key_size_limit must be a positive int, got {key_size_limit!r}")
        if isinstance(background_timeout, bool) or not isinstance(background_timeout, (int, float)):
            raise ValueError(f"background_timeout must be a number of seconds, got {background_timeout!r}")
        self.expiration_days = expiration_days
        self.database_path = Path(database_path)
        self.caching = caching
        self.key_size_limit = key_size_limit
        if isinstance(background_thread, str) and background_thread.lower() == "disabled":
            self.background_thread = "disabled"
        else:
            self.background_thread = bool(background_thread)
        self.background_timeout = max(5, background_timeout)
        if key_serializer is None or key_unserializer is None:
            assert key_serializer is None and key_unserializer is None, (
                "If key_unserializer or key_serializer is None, the other one must be None too"
            )
            key_serializer, key_unserializer = dummy_key_serializer, dummy_key_unserializer
        if value_serializer is None or value_unserializer is None:
            assert value_serializer is None and value_unserializer is None, (
                "If value_unserializer or value_serializer is None, the other one must be None too"
            )
            value_serializer, value_unserializer = dummy_value_serializer, dummy_value_unserializer
        for f, what in (
            (key_serializer, "key_serializer"),
            (key_unserializer, "key_unserializer"),
            (value_serializer, "value_serializer"),
            (value_unserializer, "value_unserializer"),
        ):
            if not callable(f):
                raise TypeError(f"{what} must be callable or None, got {type(f).__name__}")
        self.key_serializer = key_serializer
        self.key_unserializer = key_unserializer
        self.value_serializer = value_serializer
        self.value_unserializer = value_unserializer
        self._lock = threading.RLock()
        self._bg_thread = None  # the maintenance thread is the crate's
        self._stop_event = threading.Event()
        self._atime_overrides = {}
        self._initialization_complete = False
        self._native = self._open()
        self._bg_task_complete = _MaintenanceDone(self)
        self.metadata_db = _MetadataDb(self)
        self.info_db = _InfoDb(self)
        _LIVE[id(self)] = self
        # As the original: a database initialized empty can be called again.
        if self._native.is_initialized() and self._native.len() == 0:
            self._native.clear()
        if self.background_thread == "disabled":
            self._log("Integrity check and expiration are disabled")
        self._initialization_complete = True

    def _open(self):
        mode = {"disabled": "disabled", True: "background", False: "foreground"}[self.background_thread]
        args = (
            os.fspath(self.database_path),
            str(self.name),
            float(self.expiration_days) if self.expiration_days else None,
            mode,
            float(self.background_timeout),
            128 if self.caching else 0,
        )
        try:
            native = _native.Db(*args)
        except StillOpenError:
            # The directory was deleted and recreated while this process still holds the old
            # database: a garbage-collected dict, or live dicts of the old directory. Collect,
            # close handles of replaced directories (they reopen at their next use), retry.
            gc.collect()
            here, real = _dir_id(self.database_path), os.path.realpath(self.database_path)
            for other in list(_LIVE.values()):
                if other is not self and other._dir_id != here and os.path.realpath(other.database_path) == real:
                    other._native.close()
            native = _native.Db(*args)
        self._dir_id = _dir_id(self.database_path)
        return native

    # -- logging -------------------------------------------------------------------------------

    def _log(self, message):
        if not self.verbose:
            return
        routine = any(op in message for op in _ROUTINE)
        env = os.environ.get("PERSIST_DICT_TEST_LOG", "").lower() in ("true", "1", "yes", "t", "y")
        if env or not routine:
            prefix = f"[{self.name}]" if self.name else ""
            text = f"PersistDict{prefix}: {message}"
            _logger.debug(text)
            if _loguru is not None:
                _loguru.debug(text)
            else:
                print(text, flush=True)

    # -- keys and values -----------------------------------------------------------------------

    def hash_and_crop(self, string):
        """SHA-256 hex digest of the key, cropped to ``key_size_limit`` (as the original)."""
        return hashlib.sha256(string.encode("utf-8")).hexdigest()[: self.key_size_limit]

    def _ks(self, key):
        if not isinstance(key, str):
            raise TypeError(f"PersistDict keys are str (they are hashed), got {type(key).__name__}")
        return _to_bytes(self.key_serializer(self.hash_and_crop(key)), "key_serializer")

    def _ser(self, value):
        return _to_bytes(self.value_serializer(value), "value_serializer")

    # -- the dict protocol ---------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        """Populate once, like ``dict(a=1)``: ``d = PersistDict(path)(a=1, b=2)``. A second
        call fails (AssertionError) until ``clear()``, in every process."""
        self._log(".__call__")
        if len(args) == 1 and isinstance(args[0], (dict, list)):
            items = args[0].items() if isinstance(args[0], dict) else args[0]
        else:
            items = list(args) + list(kwargs.items())
        triples = [(self._ks(k), k, self._ser(v)) for k, v in items]
        try:
            self._native.initialize(triples)
        except AlreadyInitializedError:
            raise AssertionError(_CALL_ONCE) from None
        return self

    def __getitem__(self, key):
        if self.verbose:
            self._log(f"getting item at key {key}")
        ks = self._ks(key)
        found = self._native.get(ks)
        if found is None:
            raise KeyError(key)
        if self._atime_overrides:
            self._atime_overrides.pop(ks, None)
        return self.value_unserializer(found[1])

    def __setitem__(self, key, value):
        if self.verbose:
            self._log(f"setting item at key {key}")
        ks = self._ks(key)
        self._native.set(ks, key, self._ser(value))
        if self._atime_overrides:
            self._atime_overrides.pop(ks, None)

    def __delitem__(self, key):
        # As the original: deleting a missing key is not an error.
        self._log(f"deleting item at key {key}")
        ks = self._ks(key)
        self._native.delete(ks)
        self._atime_overrides.pop(ks, None)

    def __contains__(self, key):
        if self.verbose:
            self._log(f"checking if val_db contains key {key}")
        if not isinstance(key, str):
            return False
        return self._native.contains(self._ks(key))

    def __len__(self):
        if self.verbose:
            self._log("getting length")
        return self._native.len()

    def __iter__(self):
        return self.keys()

    def __bool__(self):
        return len(self) > 0

    def __eq__(self, other):
        if isinstance(other, PersistDict) and os.path.realpath(other.database_path) == os.path.realpath(
            self.database_path
        ):
            return True
        try:
            return dict(self.items()) == dict(other.items())
        except AttributeError:
            return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(dict(self.items()))

    def __str__(self):
        return str(dict(self.items()))

    def __reduce__(self):
        # Pickled (multiprocessing with spawn/forkserver): reopened by path in the receiver.
        return (
            _reopen,
            (
                os.fspath(self.database_path),
                dict(
                    expiration_days=self.expiration_days,
                    key_serializer=self.key_serializer,
                    key_unserializer=self.key_unserializer,
                    key_size_limit=self.key_size_limit,
                    value_serializer=self.value_serializer,
                    value_unserializer=self.value_unserializer,
                    caching=self.caching,
                    verbose=self.verbose,
                    background_thread="disabled",
                    background_timeout=self.background_timeout,
                    name=self.name,
                ),
            ),
        )

    def clear(self):
        self._log("Clearing database")
        self._native.clear()
        self._atime_overrides.clear()
        self.info_db["oldest_atime"] = datetime.datetime.now()

    def _records(self):
        it = self._native.iter()
        try:
            while True:
                batch = it.next_batch(512)
                if not batch:
                    return
                yield from batch
        finally:
            it.close()

    def keys(self):
        "The keys, in insertion (ctime) order."
        self._log("getting keys")
        yield from self._native.keys()

    def values(self):
        "The values, in insertion order, streamed from one snapshot."
        self._log("getting values")
        unser = self.value_unserializer
        for _, _, v in self._records():
            yield unser(v)

    def items(self):
        "The (key, value) pairs, in insertion order, streamed from one snapshot."
        self._log("getting items")
        unser = self.value_unserializer
        for _, full, v in self._records():
            yield full, unser(v)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def pop(self, key, *default):
        try:
            value = self[key]
        except KeyError:
            if default:
                return default[0]
            raise
        del self[key]
        return value

    def setdefault(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default

    def update(self, other=(), **kwargs):
        "Stores many items in one transaction."
        items = list(other.items() if hasattr(other, "items") else other) + list(kwargs.items())
        self._native.extend([(self._ks(k), k, self._ser(v)) for k, v in items])

    def copy(self):
        return dict(self.items())

    def popitem(self):
        for k in self.keys():
            return k, self.pop(k)
        raise KeyError("popitem(): dictionary is empty")

    # -- maintenance, as the original's hooks -------------------------------------------------

    def __expire__(self):
        """Removes the entries unused for longer than ``expiration_days`` now."""
        self._log("expirating")
        if not self.expiration_days:
            return
        removed = self._native.expire()
        if self._atime_overrides:
            limit = datetime.datetime.now() - datetime.timedelta(days=self.expiration_days)
            for ks, atime in list(self._atime_overrides.items()):
                if atime <= limit:
                    removed += bool(self._native.delete(ks))
                    del self._atime_overrides[ks]
        self._log(f"Expiration removed {removed} keys")

    def __integrity_check__(self):
        """Checks every record and index, repairing what can be repaired."""
        self._log("checking integrity of db")
        clean, report = self._native.check_integrity()
        if not clean:
            self._log(f"integrity check: {report}")
        return clean

    def _start_background_thread(self):
        pass

    def _stop_background_thread(self):
        self._stop_event.set()
        self._bg_thread = None

    # -- this binding's own --------------------------------------------------------------------

    def close(self):
        """Closes the database now (it reopens at the next use). When no other dict of this
        process uses the directory, LMDB has closed it when this returns: the directory can
        be deleted and recreated at once."""
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reopen(path, kwargs):
    return PersistDict(path, **kwargs)


def import_v02(old_path, new_path, **kwargs):
    """One-shot import of a database written by PersistDict 0.2.x into a new directory.

    Needs the original package (``pip install PersistDict``; its module name differs in
    case from this one, so both can be installed). Pass the serializers the old database was
    written with (``key_serializer=..., value_serializer=...`` and their unserializers);
    they are used for the new database too. Items keep their insertion (ctime) order; their
    times restart now. Returns the number of items imported. ``old_path`` is not changed:
    once checked, move ``new_path`` into its place.
    """
    try:
        from PersistDict import PersistDict as Original
    except ImportError as e:
        raise ImportError(
            "import_v02 reads the old database through the original package: pip install PersistDict==0.2.14"
        ) from e
    if Original is PersistDict:
        raise ImportError("the module PersistDict is this package (an import shim), not the original")
    if os.path.exists(new_path) and any(os.scandir(new_path)):
        raise FileExistsError(f"{new_path}: the destination must be a new or empty directory")
    old = Original(database_path=old_path, background_thread="disabled", **kwargs)
    new = PersistDict(new_path, background_thread="disabled", **kwargs)
    count, batch = 0, []
    for key, value in old.items():
        batch.append((key, value))
        if len(batch) >= 1000:
            new.update(batch)
            count, batch = count + len(batch), []
    new.update(batch)
    count += len(batch)
    new.close()
    return count
