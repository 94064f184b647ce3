"""engine="ray": equal to the local engine, exact merges, sources, a killed worker, no Ray installed.

One local Ray (2 CPUs) serves the whole module; every test here that runs Ray spends
most of its time starting two actors, so the runs are few and small.
"""
from __future__ import annotations

import os
import signal
import sys
import time
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
def ray_local():
    """One local Ray with 2 CPUs for the module (started once: about 10 s)."""
    pytest.importorskip("ray.data")
    import ray

    from attnviz.distributed import start_ray

    if ray.is_initialized():
        ray.shutdown()
    start_ray(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_merge_of_partials_equals_one_pass_in_any_grouping():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(57, 2, 3))
    whole = RunningStats((2, 3))
    whole.update(data)
    parts = [RunningStats((2, 3)) for _ in range(4)]
    for part, rows in zip(parts, np.split(data, [5, 6, 40])):
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
        dataset_stats(*tiny_bert, ["a text"], engine="ray", progress=False)
    assert str(info.value) == "engine='ray' needs Ray: pip install 'attnviz[ray]' (it installs ray[data])"


def test_an_unknown_engine_names_the_choices(tiny_bert):
    with pytest.raises(ValueError, match="'local'.*'ray'"):
        dataset_stats(*tiny_bert, ["a text"], engine="spark", progress=False)


def test_ray_equals_local_on_tiny_bert_from_a_parquet_file(ray_local, tiny_bert, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"id": list(range(len(TEXTS))), "body": TEXTS}), path, row_group_size=50)
    local = dataset_stats(*tiny_bert, TEXTS, batch_size=2, progress=False)
    assert_same(local, dataset_stats(*tiny_bert, path, text_column="body", batch_size=2, progress=False))
    got = dataset_stats(*tiny_bert, path, text_column="body", batch_size=2, progress=False, engine="ray",
                        num_workers=2)
    assert_same(local, got)
    assert got.extra["engine"]["chunks"] == 4 and got.extra["engine"]["workers"] == 2


@pytest.mark.slow
def test_ray_equals_local_on_minilm_from_a_ray_dataset(ray_local, minilm_path):
    from attnviz.modeling import load_model

    texts = TEXTS[:48]
    local = dataset_stats(*load_model(minilm_path), texts, batch_size=2, progress=False)
    ds = ray_local.data.from_items([{"text": t} for t in texts])
    got = dataset_stats(minilm_path, None, ds, batch_size=2, progress=False, engine="ray", num_workers=2)
    assert_same(local, got)
    assert got.model_name == str(minilm_path)


def _worker_pids() -> list[int]:
    """Processes of this user whose title names the statistics actor (Ray sets `ray::...StatsWorker...`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and "StatsWorker" in title:
                pids.append(int(entry.name))
    return sorted(pids)


def test_a_killed_worker_is_restarted_and_nothing_counts_twice(ray_local, tiny_bert, monkeypatch):
    """Kill one actor's process after the first partial arrives: same numbers, every text once."""
    import tqdm.auto

    texts = TEXTS * 2
    local = dataset_stats(*tiny_bert, texts, batch_size=1, progress=False)
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
    got = dataset_stats(*tiny_bert, texts, batch_size=1, progress=False, engine="ray", num_workers=2)
    assert state["killed"] and state["after"] > 0  # killed in the middle of the run
    assert_same(local, got)
    assert got.num_examples == len(texts)
