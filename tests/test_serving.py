"""How `manage.py serve` and `chatserver` prepare their process before serving."""

from __future__ import annotations

import gc

from courseware import serving


def test_a_server_freezes_what_start_up_built_and_collects_the_young_less_often(monkeypatch):
    seen: dict = {}

    def serve(*_args: object) -> None:
        seen["frozen"], seen["threshold"] = gc.get_freeze_count(), gc.get_threshold()

    monkeypatch.setattr(serving, "_run_uvicorn", serve)
    before = gc.get_threshold()
    try:
        serving.run(object(), [("127.0.0.1", 0)])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert seen["frozen"] > 10_000  # Django's apps, models and settings, at least
    assert seen["threshold"] == (serving.GC_YOUNG_THRESHOLD, *before[1:])
