"""Runtime hook for Parley's frozen bundle (runs before Parley's own code).

On Linux, ``ctypes.util.find_library`` asks ldconfig and gcc, which never see
the libraries inside the bundle, so sounddevice would report "PortAudio library
not found" on a machine without the system package. Look in the bundle first.
"""

import ctypes.util
import glob
import os
import sys

if sys.platform.startswith("linux"):
    _system_find_library = ctypes.util.find_library

    def _find_library(name):  # noqa: ANN001, ANN202 - same signature as ctypes'
        bundle = getattr(sys, "_MEIPASS", None)
        if bundle:
            found = sorted(glob.glob(os.path.join(bundle, f"lib{name}.so*")))
            if found:
                return found[0]
        return _system_find_library(name)

    ctypes.util.find_library = _find_library
