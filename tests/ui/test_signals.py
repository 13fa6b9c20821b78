"""Guards the PySide6 6.12 bug: each Signal.emit() dropped a reference to True until Python aborted."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    flag = Signal(bool)
    text = Signal(str)


def test_ten_thousand_emits_keep_true_alive(qtbot: Any) -> None:
    emitter = Emitter()
    received: list[bool] = []
    emitter.flag.connect(received.append)
    emitter.text.connect(lambda s: None)
    before = sys.getrefcount(True)
    for i in range(10_000):
        emitter.flag.emit(True)
        emitter.text.emit("x")
        if i % 1000 == 0:
            assert sys.getrefcount(True) > 1000
    assert len(received) == 10_000 and all(received)
    # a few references may come and go, but 10,000 lost ones would show
    assert sys.getrefcount(True) > before - 100
