"""When the EVTX reader hands parsing to its worker process (``POLICY`` "auto")."""

from __future__ import annotations

import os

import pytest

from vigil.ecs.windows import evtx_worker


@pytest.mark.parametrize(
    ("cores", "load", "spare"),
    [
        (1, 0.0, False),
        (2, 0.0, False),  # two cores: measured slower with the worker than without
        (3, 0.5, True),
        (4, 1.5, True),
        (4, 4.5, False),  # the load leaves no core free
    ],
)
def test_spare_core(monkeypatch: pytest.MonkeyPatch, cores: int, load: float, spare: bool) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(evtx_worker, "_worker", None)
    assert evtx_worker._spare_core() is spare
