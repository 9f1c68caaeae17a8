"""Tests of the Python binding beyond the original package's own suite: threads, processes,
fork, expiry, serializers, errors, bad input, closing."""

import datetime
import json
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time

import pytest

import persistdict
from persistdict import PersistDict


@pytest.fixture
def path(tmp_path):
    return tmp_path / "db"


def test_basic_dict_protocol(path):
    d = PersistDict(path)
    d["a"] = 1
    d["b"] = [1, 2, {"x": None}]
    assert d["a"] == 1 and d["b"] == [1, 2, {"x": None}]
    assert "a" in d and "zz" not in d and 3 not in d
    assert len(d) == 2 and bool(d)
    assert list(d) == ["a", "b"] == list(d.keys())
    assert list(d.values()) == [1, [1, 2, {"x": None}]]
    assert dict(d.items()) == {"a": 1, "b": [1, 2, {"x": None}]}
    assert d.get("missing", 7) == 7
    assert d.pop("a") == 1 and "a" not in d
    assert d.setdefault("c", 3) == 3 and d["c"] == 3
    d.update({"e": 5}, f=6)
    assert d == {"b": [1, 2, {"x": None}], "c": 3, "e": 5, "f": 6}
    del d["b"]
    del d["never-there"]  # as the original: no error
    with pytest.raises(KeyError):
        d["b"]
    d.clear()
    assert len(d) == 0 and not d
    assert isinstance(d, dict)


def test_overwrite_keeps_insertion_order(path):
    d = PersistDict(path)
    for k in "abc":
        d[k] = k
    d["a"] = "again"
    assert list(d.keys()) == ["a", "b", "c"]
    del d["a"]
    d["a"] = 1
    assert list(d.keys()) == ["b", "c", "a"]


def test_initialize_once_across_handles(path):
    d = PersistDict(path)(a=1, b=2)
    assert dict(d.items()) == {"a": 1, "b": 2}
    with pytest.raises(AssertionError, match="can only be called once"):
        PersistDict(path)(c=3)
    d.clear()
    PersistDict(path)({"c": 3})
    assert list(d.keys()) == ["c"]


def test_key_hashing_and_cropping(path):
    d = PersistDict(path, key_size_limit=1)
    # With one hex digit kept, 17 keys cannot all be apart: keys collide as in the original.
    for i in range(17):
        d[f"k{i}"] = i
    assert len(d) <= 16
    assert d.hash_and_crop("abc") == "b"  # sha256("abc") = ba7816bf...
    long = "x" * 100_000
    d2 = PersistDict(path.parent / "long")
    d2[long] = "v"
    assert d2[long] == "v" and list(d2.keys()) == [long]


def test_custom_serializers(path):
    d = PersistDict(
        path,
        key_serializer=json.dumps,
        key_unserializer=json.loads,
        value_serializer=lambda v: json.dumps(v).encode(),
        value_unserializer=json.loads,
    )
    d["k"] = {"a": [1, 2]}
    assert d["k"] == {"a": [1, 2]}
    raw = PersistDict(path.parent / "raw", value_serializer=None, value_unserializer=None)
    raw["s"] = "text"
    raw["b"] = b"bytes"
    assert raw["s"] == "text" and raw["b"] == "bytes"  # as the original: decoded to str
    with pytest.raises(TypeError, match="value_serializer must return bytes or str"):
        raw["n"] = 12
    with pytest.raises(AssertionError):
        PersistDict(path.parent / "x", key_serializer=None)


def test_expiry_at_open_and_by_backdating(path):
    d = PersistDict(path, expiration_days=7, background_thread=False)
    d["old"] = 1
    d["new"] = 2
    ks = d.key_serializer(d.hash_and_crop("old"))
    meta = d.metadata_db[ks]
    assert isinstance(meta["ctime"], datetime.datetime)
    meta["atime"] = datetime.datetime.now() - datetime.timedelta(days=8)
    d.__expire__()
    assert list(d.keys()) == ["new"]
    # Real expiry in the database: a 1 ms window (fractional days) elapses, the next open expires.
    short = PersistDict(path.parent / "short", expiration_days=1 / 86_400_000, background_thread=False)
    short["x"] = 1
    time.sleep(0.05)
    reopened = PersistDict(path.parent / "short", expiration_days=1 / 86_400_000, background_thread=False)
    assert len(reopened) == 0
    assert len(short) == 0


def test_background_modes(path):
    for mode in (True, False, "disabled", "DISABLED"):
        d = PersistDict(path, background_thread=mode, expiration_days=1)
        assert d._bg_task_complete.wait(10)
        d["k"] = mode
        assert d["k"] == mode
        d.close()


def test_threads_hammering_one_dict(path):
    d = PersistDict(path)
    errors = []

    def work(t):
        try:
            for i in range(300):
                k = f"{t}-{i % 20}"
                d[k] = (t, i)
                assert d[k][0] == t  # only this thread writes its keys
                if i % 7 == 0:
                    del d[k]
                len(d)
                k in d
            list(d.keys())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for t in range(8):
        for i in range(280, 300):
            k = f"{t}-{i % 20}"
            if i % 7 != 0:
                assert d[k] == (t, i)


def test_the_gil_is_released_during_calls(path):
    # A thread counting in pure Python keeps running while others commit synced writes.
    d = PersistDict(path)
    stop, count = threading.Event(), [0]

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    for i in range(200):
        d[str(i)] = i
    stop.set()
    t.join()
    assert count[0] > 1000


_WRITER = """
import sys
from persistdict import PersistDict
d = PersistDict(sys.argv[1])
for i in range(200):
    d[f"{sys.argv[2]}-{i}"] = i
"""


def test_two_processes_sharing_one_directory(path):
    d = PersistDict(path)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name]) for name in ("p", "q")]
    for p in procs:
        assert p.wait(60) == 0
    assert len(d) == 400
    assert d["p-199"] == 199 and d["q-0"] == 0


def _child_work(args):
    path, i = args
    d = PersistDict(path)
    d[f"child-{i}"] = os.getpid()
    return len(d)


_INHERITED = None


def _use_inherited(i):
    _INHERITED[f"fork-{i}"] = i
    return _INHERITED[f"fork-{i}"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_multiprocessing_reopens_inherited_dicts(path):
    global _INHERITED
    _INHERITED = PersistDict(path, expiration_days=3)
    _INHERITED["parent"] = 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        assert sorted(pool.map(_use_inherited, range(6))) == list(range(6))
        assert all(n >= 1 for n in pool.map(_child_work, [(str(path), i) for i in range(6)]))
    # The parent's dict goes on working after the forks.
    assert _INHERITED["parent"] == 1
    assert len(_INHERITED) == 13


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_bare_os_fork(path):
    d = PersistDict(path)
    d["before"] = 1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            d["child"] = d["before"] + 1
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert d["child"] == 2


def test_pickled_dict_reopens_by_path(path):
    d = PersistDict(path)
    d["a"] = 1
    d2 = pickle.loads(pickle.dumps(d))
    assert d2["a"] == 1 and d2 is not d


def test_delete_and_recreate_the_directory(path):
    # The original's test fixtures delete the directory between tests, while a dict may
    # still be alive (a reference cycle, a traceback): the new one must open at once.
    keep = PersistDict(path)
    keep["a"] = 1
    cycle = [keep]
    cycle.append(cycle)
    shutil.rmtree(path)
    started = time.monotonic()
    d = PersistDict(path)
    assert time.monotonic() - started < 2
    assert len(d) == 0
    d["b"] = 2
    # The old dict was closed; at its next use it opens the new directory.
    assert keep["b"] == 2
    d.close()
    keep.close()
    shutil.rmtree(path)
    assert len(PersistDict(path)) == 0


def test_errors_name_the_path(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("not a directory")
    with pytest.raises(persistdict.Error, match="a-file"):
        PersistDict(f)
    bad = tmp_path / "garbage"
    bad.mkdir()
    (bad / "data.mdb").write_bytes(b"\x00" * 10_000)
    with pytest.raises(persistdict.Error, match="garbage"):
        PersistDict(bad)


def test_bad_input_never_crashes(path):
    d = PersistDict(path)
    for key in (None, 1, 1.5, b"bytes", ("t",), object()):
        with pytest.raises(TypeError):
            d[key] = 1
        with pytest.raises(TypeError):
            d[key]
        assert key not in d
    with pytest.raises(Exception):  # pickle refuses a lambda
        d["lambda"] = lambda: 1
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate has no UTF-8 form
        d["\udcff"] = 1
    for bad in (dict(expiration_days=-1), dict(expiration_days="x"), dict(key_size_limit=0),
                dict(key_size_limit="1"), dict(background_timeout="x"), dict(value_serializer=1, value_unserializer=1)):
        with pytest.raises((ValueError, TypeError)):
            PersistDict(path, **bad)
    with pytest.raises(TypeError):
        PersistDict(12)
    d["ok"] = "still works"
    assert d["ok"] == "still works"


def test_a_failing_unserializer_raises_and_keeps_the_entry(path):
    d = PersistDict(path)
    d["k"] = 1

    def boom(_):
        raise RuntimeError("cannot decode")

    broken = PersistDict(path, value_unserializer=boom, value_serializer=pickle.dumps)
    with pytest.raises(RuntimeError):
        broken["k"]
    assert d["k"] == 1


def test_logging_goes_through_python_logging(path, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="persistdict")
    d = PersistDict(path, verbose=True, name="named")
    d.clear()
    assert any("PersistDict[named]: Clearing database" in r.getMessage() for r in caplog.records)


def test_import_v02_without_the_original_says_how(path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PersistDict", None)
    with pytest.raises(ImportError, match="pip install PersistDict"):
        persistdict.import_v02(path / "old", path / "new")


_MIGRATE = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
from PersistDict import PersistDict as Original
import persistdict
old = Original(database_path=sys.argv[2], background_thread="disabled")
for i in range(50):
    old[f"k{i}"] = {"i": i}
n = persistdict.import_v02(sys.argv[2], sys.argv[3])
assert n == 50, n
new = persistdict.PersistDict(sys.argv[3])
assert list(new.keys()) == [f"k{i}" for i in range(50)]
assert new["k7"] == {"i": 7}
print("ok")
"""


@pytest.mark.skipif(not os.environ.get("PERSISTDICT_ORIGINAL_PATH"), reason="needs the original package (ci.sh)")
def test_import_v02_from_the_original(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _MIGRATE, os.environ["PERSISTDICT_ORIGINAL_PATH"], str(tmp_path / "old"),
         str(tmp_path / "new")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
