"""Container runtimes behind one interface (see interface.py)."""

from .interface import (
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    Mount,
    Runtime,
    SandboxConfig,
    StatsProvider,
)
from .process import ProcessRuntime

__all__ = ["ContainerConfig", "ContainerStats", "ContainerStatus", "ExecResult", "Mount", "Runtime",
           "SandboxConfig", "StatsProvider", "ProcessRuntime"]
