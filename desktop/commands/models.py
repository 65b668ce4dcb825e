"""``parley models``: the models found and where each comes from."""

from __future__ import annotations

from desktop import paths
from desktop.config import load_settings
from desktop.engine import registry
from desktop.errors import ModelError

ROLE_NAMES = {"llm": "chat", "stt": "speech-to-text", "tts": "voice"}


def run_models() -> int:
    settings = load_settings()
    entries = registry.all_models()
    chosen = {}
    for role in ROLE_NAMES:
        try:
            chosen[role] = registry.resolve(role, settings).path
        except ModelError:
            chosen[role] = None
    if not entries:
        print("No models found.")
    for entry in entries:
        mark = "*" if chosen.get(entry.role) == entry.path else " "
        print(f"{mark} {ROLE_NAMES[entry.role]:<15} {entry.name:<36} {entry.source}")
        print(f"  {'':<15} {entry.path}")
    print(f"\n* = in use. Add GGUF chat models to {paths.models_dir()}")
    missing = [ROLE_NAMES[role] for role, path in chosen.items() if path is None]
    if missing:
        print(f"Missing: {', '.join(missing)}; {registry.STARTER_HINT}")
    return 0
