"""Fixtures for the integration tests (helpers live in ``harness.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import Proc, Simulator  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _kill_leftover_processes() -> Iterator[None]:
    """Whatever a test left running is killed at the end of the session."""
    yield
    Proc.kill_all()


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    """The directory of the built executables (``$JBAI_BIN_DIR`` or ``<repo>/.build/debug``)."""
    return harness.bin_dir()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator with default options on 127.0.0.1, port 0; stopped after the test."""
    sim = Simulator.start(tmp_path)
    yield sim
    sim.terminate()


@pytest.fixture
def start_simulator(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """A factory: ``start_simulator("--chunks", "2", ...)`` starts a simulator with those
    arguments (logs in its own folder under ``tmp_path``); all are stopped after the test."""
    started: list[Simulator] = []

    def start(*args: str, **kw) -> Simulator:
        log_dir = tmp_path / f"simulator-{len(started) + 1}"
        log_dir.mkdir()
        sim = Simulator.start(log_dir, *args, **kw)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.terminate()
