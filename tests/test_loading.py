"""Loading without GC passes: paused inside the block, as before after it."""

from __future__ import annotations

import gc

import pytest

from tinygen.loading import without_gc


@pytest.fixture
def gc_state():
    enabled = gc.isenabled()
    yield
    gc.enable() if enabled else gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_is_paused_inside_and_restored_after(gc_state, enabled):
    gc.enable() if enabled else gc.disable()
    with without_gc():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_gc_is_restored_when_the_block_raises(gc_state):
    gc.enable()
    with pytest.raises(ImportError), without_gc():
        raise ImportError("no such module")
    assert gc.isenabled()
