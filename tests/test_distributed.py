"""engine="ray": equal to the local engine, exact merges, sources, a killed worker, no Ray installed.

One local Ray (2 CPUs) serves the whole module; every Ray run spends most of its time
starting two actors (importing torch, loading the model), so there are three: tiny BERT
with a worker killed, MiniLM, and extract_dataset resuming a folder.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from attnviz.metrics import dataset_stats
from attnviz.metrics.online import RunningStats

TEXTS = [f"Text number {i}: the cat sat on the mat, and then" + " it purred" * (i % 7) + "." for i in range(120)]


def assert_same(a, b, tol=1e-6):
    assert a.metrics == b.metrics and a.num_examples == b.num_examples
    for m in a.metrics:
        assert a.counts[m] == b.counts[m], m
        np.testing.assert_allclose(a.values[m], b.values[m], atol=tol, rtol=0, err_msg=m)
        np.testing.assert_allclose(a.std[m], b.std[m], atol=tol, rtol=0, err_msg=m)


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """One local Ray with 2 CPUs for the module.

    Every Ray process (its agents, Ray Data's helper actors, each worker) imports jsonschema,
    which imports ``rfc3987_syntax`` where it is installed (jupyter-events asks for it); that
    module builds Earley parsers on import: about 2 s of CPU in each of some 20 processes. Ray's
    processes here see a PYTHONPATH on which it fails to import, as jsonschema allows (it then
    skips checking the "iri" formats, which Ray does not use); this process keeps it.

    Ray starts its workers at nice 15: on a machine busy with other work (tests run in
    parallel, say) they get a few percent of a core and every run waits minutes; here they run
    at the priority of this process (``worker_niceness=0``).
    """
    pytest.importorskip("ray.data")
    import ray

    from attnviz.distributed import start_ray

    hidden = tmp_path_factory.mktemp("ray-path")
    (hidden / "rfc3987_syntax.py").write_text('raise ImportError("left out of the test\'s Ray processes")\n')
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(hidden), *([saved] if saved else [])])
    if ray.is_initialized():
        ray.shutdown()
    try:
        options = dict(num_cpus=2, include_dashboard=False, _system_config={"worker_niceness": 0})
        try:
            start_ray(**options)
        except Exception:  # Ray gives its raylet 30 s to start: on an overloaded machine, once more
            ray.shutdown()
            start_ray(**options)
    finally:  # Ray's processes have their environment; later subprocesses get the usual one
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray
    ray.shutdown()


def test_merge_of_partials_equals_one_pass_in_any_grouping():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(57, 2, 3))
    whole = RunningStats((2, 3))
    whole.update(data)
    parts = [RunningStats((2, 3)) for _ in range(4)]
    for part, rows in zip(parts, np.split(data, [5, 6, 40]), strict=True):
        part.update(rows)
    merged = RunningStats((2, 3))
    for part in reversed(parts):
        merged.merge(RunningStats.from_state(*part.state()))
    merged.merge(RunningStats((2, 3)))  # an empty partial changes nothing
    assert merged.count == 57
    np.testing.assert_allclose(merged.mean, data.mean(0), atol=1e-12)
    np.testing.assert_allclose(merged.std, data.std(0), atol=1e-12)
    np.testing.assert_allclose(merged.std, whole.std, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        merged.merge(RunningStats((3,)))


def test_without_ray_one_line_names_the_extra(monkeypatch, tiny_bert):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError) as info:
        dataset_stats(tiny_bert[0], ["a text"], engine="ray", progress=False, tokenizer=tiny_bert[1])
    assert str(info.value) == "engine='ray' needs Ray: pip install 'attnviz[ray]' (it installs ray[data])"


def test_an_unknown_engine_names_the_choices(tiny_bert):
    with pytest.raises(ValueError, match="'local'.*'ray'"):
        dataset_stats(tiny_bert[0], ["a text"], engine="spark", progress=False, tokenizer=tiny_bert[1])


def _parquet(path, texts):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(len(texts))), "body": texts}), path, row_group_size=50)
    return path


def test_a_parquet_file_gives_the_statistics_of_its_texts(tiny_bert, tmp_path):
    path = _parquet(tmp_path / "texts.parquet", TEXTS)
    local = dataset_stats(tiny_bert[0], TEXTS, batch_size=2, progress=False, tokenizer=tiny_bert[1])
    assert_same(local, dataset_stats(tiny_bert[0], path, text_column="body", batch_size=2, progress=False, tokenizer=tiny_bert[1]))


@pytest.mark.slow
def test_ray_equals_local_on_minilm_from_a_ray_dataset(ray_local, minilm_path):
    from attnviz.modeling import load_model

    texts = TEXTS[:48]
    model, tok = load_model(minilm_path)
    local = dataset_stats(model, texts, tokenizer=tok, batch_size=2, progress=False)
    ds = ray_local.data.from_items([{"text": t} for t in texts], override_num_blocks=2)  # not one block per row
    got = dataset_stats(minilm_path, ds, batch_size=2, progress=False, engine="ray", num_workers=2, tokenizer=None)
    assert_same(local, got)
    assert got.model_name == str(minilm_path)


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _started_here(pid: int) -> bool:
    """True when this test process is an ancestor of ``pid`` (our Ray's raylet started it)."""
    for _ in range(6):
        pid = _parent(pid)
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
    return False


def _worker_pids() -> list[int]:
    """Actor processes of this test's Ray whose title names the statistics actor (`ray::...StatsWorker...`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and "StatsWorker" in title and _started_here(int(entry.name)):
                pids.append(int(entry.name))
    return sorted(pids)


def _last_token(att, tokens):
    """A user statistic (see attnviz.metrics.register_metric): attention on the last token."""
    return att[..., -1].mean(axis=-1)


def test_ray_equals_local_on_tiny_bert_when_a_worker_is_killed_and_nothing_counts_twice(ray_local, tiny_bert,
                                                                                        monkeypatch, tmp_path,
                                                                                        request):
    """2 workers read a parquet file; one actor's process is killed after the first partial arrives:
    Ray restarts it and retries its chunk, and the numbers equal the local engine's, every text once."""
    import tqdm.auto

    from attnviz.metrics import register_metric, unregister_metric

    texts = TEXTS  # 8 chunks of 16 texts: the kill lands after the first, 7 are left
    path = _parquet(tmp_path / "texts.parquet", texts)
    register_metric("last_token", _last_token, "(1/n) sum_i A[i, n-1]", overwrite=True)  # must reach the workers
    request.addfinalizer(lambda: unregister_metric("last_token"))
    local = dataset_stats(tiny_bert[0], texts, batch_size=1, progress=False, tokenizer=tiny_bert[1])
    assert "last_token" in local.metrics and "induction" in local.metrics
    state = {"killed": None, "after": 0}

    class KillingBar(tqdm.auto.tqdm):
        def update(self, n=1):
            if state["killed"] is None:
                pids = _worker_pids()
                if pids:
                    os.kill(pids[0], signal.SIGKILL)  # an actor process this test's Ray started
                    state["killed"] = pids[0]
            else:
                state["after"] += 1
            return super().update(n)

    monkeypatch.setattr(tqdm.auto, "tqdm", KillingBar)
    got = dataset_stats(tiny_bert[0], path, text_column="body", batch_size=1, progress=False, engine="ray",
                        num_workers=2, tokenizer=tiny_bert[1])
    assert state["killed"] and state["after"] > 0  # killed in the middle of the run
    assert_same(local, got)
    assert got.num_examples == len(texts) and got.extra["engine"]["workers"] == 2


# --- extract_dataset -------------------------------------------------------------------------
DRIVER = r"""
import os, signal, sys
import attnviz, attnviz.store

written = []
original = attnviz.store.CaptureWriter.add_shard

def add_shard(self, examples, index):  # the driver dies (SIGKILL) right after its second shard
    path = original(self, examples, index)
    written.append(index)
    if len(written) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return path

attnviz.store.CaptureWriter.add_shard = add_shard
attnviz.extract_dataset(sys.argv[3], sys.argv[1], sys.argv[2], shard_size=4, layers=[1], progress=False)
"""


def _equal_captures(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.tokens == y.tokens and x.text == y.text
        np.testing.assert_allclose(np.asarray(x.attentions), np.asarray(y.attentions), atol=1e-6, rtol=0)
        np.testing.assert_allclose(np.asarray(x.hidden_states), np.asarray(y.hidden_states), atol=1e-6, rtol=0)


def test_extract_dataset_resumes_after_the_driver_is_killed_and_ray_finishes_it(ray_local, tmp_path):
    import subprocess

    import attnviz
    from attnviz.modeling import load_model
    from attnviz.store import read_manifest
    from attnviz.testing import save_tiny_model

    model_dir = save_tiny_model("bert", tmp_path / "model")  # one model and tokenizer for both processes
    texts = TEXTS[:18]
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(texts) + "\n")
    out = tmp_path / "caps"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(attnviz.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", DRIVER, str(data), str(out), str(model_dir)], env=env,
                          capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    manifest = read_manifest(out)
    assert not manifest["complete"] and [s["start"] for s in manifest["shards"]] == [0, 4]
    with pytest.warns(UserWarning, match="8 of 18 examples"):
        partial = attnviz.load(out)  # the finished shards are usable
    assert [ex.text for ex in partial] == texts[:8]
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.safetensors")}

    cap = attnviz.extract_dataset(model_dir, data, out, engine="ray", num_workers=2, shard_size=4, layers=[1],
                                  progress=False)
    assert read_manifest(out)["complete"] and len(list(out.glob("shard-*.safetensors"))) == 5
    assert {p: (out / p).stat().st_mtime_ns for p in first} == first  # finished shards were skipped
    model, tok = load_model(model_dir)
    _equal_captures(cap, attnviz.extract(model, texts, tokenizer=tok, layers=[1], progress=False))
    # once complete, a rerun does nothing (no Ray job) and returns the same capture
    again = attnviz.extract_dataset(model_dir, data, out, engine="ray", shard_size=4, layers=[1], progress=False)
    assert len(again) == 18


def test_extract_dataset_refuses_other_settings_before_running(tiny_bert, tmp_path):
    import attnviz
    from attnviz.store import CaptureExistsError

    out = tmp_path / "caps"
    attnviz.extract_dataset(tiny_bert[0], TEXTS[:5], out, tokenizer=tiny_bert[1], shard_size=2, layers=[0],
                            progress=False)
    with pytest.raises(CaptureExistsError, match="other settings"):
        attnviz.extract_dataset(tiny_bert[0], TEXTS[:5], out, tokenizer=tiny_bert[1], shard_size=2, layers=[1],
                                engine="ray", progress=False)
    with pytest.raises(TypeError, match="text_pairs"):
        attnviz.extract_dataset(tiny_bert[0], TEXTS[:5], tmp_path / "x", text_pairs=["a"] * 5)



def test_extract_dataset_ray_refuses_a_foreign_shard_and_other_weights(tiny_bert, tmp_path):
    """The Ray path opens a folder with the same checks as a load (issue 25), before any worker starts."""
    import shutil

    import torch

    import attnviz
    from attnviz.store import CaptureExistsError
    from attnviz.validation import CaptureFormatError

    pytest.importorskip("ray.data")
    out, other = tmp_path / "caps", tmp_path / "other"
    options = dict(tokenizer=tiny_bert[1], shard_size=2, progress=False)
    attnviz.extract_dataset(tiny_bert[0], TEXTS[:5], out, **options)
    attnviz.extract_dataset(tiny_bert[0], TEXTS[5:10], other, **options)
    shutil.copy(other / "shard-00001.safetensors", out / "shard-00001.safetensors")  # a shard of another run
    with pytest.raises(CaptureFormatError, match=r"shards\[1\].*(another capture|truncated or replaced)"):
        attnviz.extract_dataset(tiny_bert[0], TEXTS[:5], out, engine="ray", **options)
    (out / "shard-00001.safetensors").unlink()  # deleted: resuming rewrites it, with the same weights only
    model = attnviz.testing.tiny_model("bert")[0]
    with torch.no_grad():
        next(model.parameters()).mul_(1.5)
    with pytest.raises(CaptureExistsError, match="other weights"):
        attnviz.extract_dataset(model, TEXTS[:5], out, engine="ray", **options)
    assert not (out / "shard-00001.safetensors").exists()
