"""The one switch for the project's numba kernel modules (the readers' decoders and packing, the simulator, the CPU
LIF): each is imported through :func:`numba_module`, so ``NEUROCLIP_NUMBA=0`` keeps numba out of the process and a
numba that does not import falls back the same way everywhere."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

VARIABLE = "NEUROCLIP_NUMBA"


def numba_module(name: str) -> ModuleType | str:
    """Import the numba kernel module ``name``: the module, or why it cannot be used (a string), for callers that
    take their numpy or torch path instead."""
    if os.environ.get(VARIABLE, "1") == "0":
        return f"{VARIABLE}=0 is set"
    try:
        return importlib.import_module(name)
    except ImportError as error:  # numba missing, or built for another numpy or Python
        return f"numba does not import ({error})"
