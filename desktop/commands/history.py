"""``parley history``: the saved conversations, in the terminal.

parley history [list] [--search TEXT] [--json]   newest first
parley history show ID                           the whole conversation
parley history export ID --format md|json [-o FILE]
parley history rename ID TITLE
parley history delete ID
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from desktop.errors import OutputError
from desktop.history.export import FORMATS, export, to_markdown
from desktop.history.store import HistoryStore


def add_parser(commands: argparse._SubParsersAction) -> None:
    history = commands.add_parser("history", help="saved conversations: list, show, export")
    actions = history.add_subparsers(dest="history_action", metavar="ACTION")
    listing = actions.add_parser("list", help="the conversations, newest first (the default)")
    for parser in (history, listing):
        parser.add_argument("--search", default="", help="only those mentioning TEXT")
        parser.add_argument("--json", action="store_true", help="print JSON")
    show = actions.add_parser("show", help="print a conversation")
    show.add_argument("id", type=int)
    out = actions.add_parser("export", help="write a conversation as Markdown or JSON")
    out.add_argument("id", type=int)
    out.add_argument("--format", choices=FORMATS, default="md")
    out.add_argument("-o", "--output", help="write to this file instead of the terminal")
    rename = actions.add_parser("rename", help="give a conversation a new title")
    rename.add_argument("id", type=int)
    rename.add_argument("title", nargs="+")
    delete = actions.add_parser("delete", help="delete a conversation")
    delete.add_argument("id", type=int)


def run_history(args: argparse.Namespace) -> int:
    store = HistoryStore()
    try:
        if store.notice:
            print(f"parley: {store.notice}", file=sys.stderr)
        action = getattr(args, "history_action", None) or "list"
        if action == "list":
            return _list(store, args.search, args.json)
        if action == "show":
            sys.stdout.write(to_markdown(store.get(args.id)))
        elif action == "export":
            _write(export(store.get(args.id), args.format), args.output)
        elif action == "rename":
            store.rename(args.id, " ".join(args.title))
        elif action == "delete":
            store.delete(args.id)
            print(f"deleted conversation {args.id}")
        return 0
    finally:
        store.close()


def _list(store: HistoryStore, search: str, as_json: bool) -> int:
    found = store.conversations(search)
    if as_json:
        print(json.dumps([asdict(s) for s in found], ensure_ascii=False))
        return 0
    if not found:
        print("no conversations match" if search else "no conversations yet")
        return 0
    for summary in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
        plural = "" if summary.turns == 1 else "s"
        print(f"{summary.id:>5}  {when}  {summary.turns:>3} turn{plural}  {summary.title}")
    return 0


def _write(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    target = Path(output)
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror}") from exc
