"""What the commands share: the --remote options, and JSON lines on stdout.

Below both cli.py (which builds the parser) and the commands (which read it),
so neither imports the other back.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--remote",
        metavar="URL",
        help="answer with an OpenAI-compatible server (llama-server, Ollama, vLLM); "
        "the local model takes over if it fails",
    )
    parser.add_argument("--remote-model", metavar="NAME", help="the model name on that server")


def with_remote(settings, args: argparse.Namespace):  # noqa: ANN001, ANN201 - Settings
    """Settings with the command line's --remote options applied."""
    changes = {}
    if getattr(args, "remote", None):
        changes["remote_url"] = args.remote
    if getattr(args, "remote_model", None):
        changes["remote_model"] = args.remote_model
    return settings.replace(**changes) if changes else settings


def print_json(data: object) -> None:
    """One JSON object on a line of its own, flushed (``--json``)."""
    json.dump(data, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def keep_spoken_settings(values: dict) -> None:
    """Save settings the user changed by voice ("speak slower"); say so if it fails."""
    from desktop.config import remember_settings
    from desktop.errors import ConfigError

    try:
        remember_settings(values)
    except ConfigError as exc:
        print(f"parley: {exc.one_line()}", file=sys.stderr)


def alarm_line(text: str) -> str:
    return f"⏰ {text}"
