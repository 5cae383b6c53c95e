"""What the benchmark ran on: cores, CPU model, memory, GPU (or none), load, library versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")


def describe() -> dict[str, Any]:
    """Return the machine's description for results.json; never raises (unknown fields are None)."""
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "gpu": gpu_name(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
    }


def cpu_model() -> str | None:
    """Return the CPU's model name from /proc/cpuinfo, or None where there is none."""
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def memory_gib() -> float | None:
    """Return the total memory in GiB from /proc/meminfo, or None where it cannot be read."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_name() -> str | None:
    """Return the first NVIDIA GPU's name as nvidia-smi reports it, or None when there is no GPU."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
    )
    names = done.stdout.strip().splitlines()
    return names[0].strip() if done.returncode == 0 and names else None
