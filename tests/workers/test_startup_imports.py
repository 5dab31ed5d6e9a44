"""Imports for the process's life: the collector off while they run, their objects frozen."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from workers import imports_for_good


class Node:
    pass


def test_what_the_imports_built_is_frozen_and_the_collector_is_on_again() -> None:
    assert gc.isenabled()
    try:
        with imports_for_good():
            assert not gc.isenabled()
            kept = Node()
        assert gc.isenabled()
        assert all(o is not kept for o in gc.get_objects())  # out of the collector's walks
    finally:
        gc.unfreeze()


def test_garbage_frozen_with_them_is_freed_once_the_heap_is_unfrozen() -> None:
    try:
        with imports_for_good():
            cycle = Node()
            cycle.self = cycle  # type: ignore[attr-defined]  # garbage only a collection finds
            gone = weakref.ref(cycle)
            del cycle
        gc.collect()
        assert gone() is not None  # frozen: no collection sees it
    finally:
        gc.unfreeze()
    gc.collect()
    assert gone() is None


def test_a_collector_the_caller_turned_off_stays_off_and_nothing_is_frozen() -> None:
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        with imports_for_good():
            pass
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_a_failed_import_leaves_the_collector_on() -> None:
    try:
        with pytest.raises(ImportError), imports_for_good():
            import workers.no_such_module  # type: ignore[import-not-found]  # noqa: F401
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_the_pipelines_modules_are_imported_for_good_by_whichever_module_comes_first() -> None:
    """A process that imports `pipeline.processing` before anything of `workers` (a Celery
    task module, a script) imports the pipeline's modules with the collector off too."""
    probe = "import gc, pipeline.processing; print(gc.isenabled(), gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2],
                         check=True, capture_output=True, text=True).stdout
    enabled, frozen = out.split()
    assert enabled == "True" and int(frozen) > 50_000  # frozen, out of the collector's walks


def _probe(code: str, env: dict[str, str] | None = None) -> str:
    return _probe_args(code, env=env)


def _probe_args(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code, *args],
                          cwd=Path(__file__).resolve().parents[2], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_an_embedded_run_does_not_import_click(tmp_path: Path) -> None:
    """The runtime's configuration error is not the CLI's: a run without the CLI (the
    embedded API, a benchmark) does without click's imports."""
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    probe = (
        "import sys; from pathlib import Path\n"
        "from workers.embedded import run_embedded\n"
        "from workers.settings import Settings\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "settings = Settings(database_url=f'sqlite:///{folder}/run.db', channels=['file'],\n"
        "                    alerts_file=folder / 'alerts.jsonl')\n"
        "with (folder / 'empty.jsonl').open('rb') as source:\n"
        "    run_embedded(source, source_name='empty', settings=settings, progress=False)\n"
        "print('click' in sys.modules)"
    )
    assert _probe(probe) == "False"


PLUGINS_PROBE = ("import workers.settings, pydantic.plugin._loader as loader; "
                 "print(loader._plugins is None)")


def test_pydantic_looks_for_no_plugins_unless_the_user_asks() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    assert _probe(PLUGINS_PROBE, environment) == "True"  # never looked for
    assert _probe(PLUGINS_PROBE, {**environment, "PYDANTIC_DISABLE_PLUGINS": ""}) == "False"



def _imported_by_logwarden_run(tmp_path: Path) -> set[str]:
    """The modules `logwarden run` on an empty file imports, as Python's -X importtime says."""
    from tests.workers.clirun import logwarden

    empty = tmp_path / "empty.jsonl"
    empty.touch()
    done = logwarden("run", "--from", str(empty), cwd=tmp_path,
                     env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "workers.settings" in imported  # the probe sees the run's imports
    return imported


def test_logwarden_run_without_an_llm_does_not_import_the_reviews_types(tmp_path: Path) -> None:
    """The settings read the default model without `pipeline.escalation.review`."""
    assert "pipeline.escalation.review" not in _imported_by_logwarden_run(tmp_path)


def test_logwarden_run_leaves_threadpoolctl_out_where_openblas_has_one_thread(
    tmp_path: Path,
) -> None:
    assert "threadpoolctl" not in _imported_by_logwarden_run(tmp_path)


BLAS_PROBE = """
import json, sys
from pathlib import Path
from tests.integration.blas_probe import blas_thread_counts
from workers.embedded import run_embedded
from workers.settings import Settings

folder = Path(sys.argv[1])
lines = [json.dumps({"textPayload": f"request {i} served", "timestamp": f"2026-01-01T00:00:0{i}Z",
                     "resource": {"type": "generic_task", "labels": {"job": "api"}}})
         for i in range(3)]
(folder / "lines.jsonl").write_text("\\n".join(lines) + "\\n")
during = []
with (folder / "lines.jsonl").open("rb") as source:
    run_embedded(source, source_name="lines", progress=False,
                 settings=Settings(database_url=f"sqlite:///{folder}/lines.db", channels=[]),
                 on_outcome=lambda *_: during.append(blas_thread_counts()))
print(json.dumps([during, blas_thread_counts()]))
"""


def test_a_run_limits_blas_to_one_thread_where_the_environment_asks_for_more(
    tmp_path: Path,
) -> None:
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    during, after = json.loads(_probe_args(BLAS_PROBE, str(tmp_path), env=environment))
    assert during and all(set(threads) == {1} for threads in during)
    assert set(after) == {2}  # given back when the run ends
