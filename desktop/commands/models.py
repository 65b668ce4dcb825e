"""``parley models``: the catalog, what is installed, downloads, imports, fit advice.

parley models [list]          what is installed and what the catalog offers
parley models search TEXT     catalog entries matching every word
parley models download ID     fetch a catalog model, verified, with progress
parley models add PATH        check a model file and copy it in
parley models remove ID|NAME  delete a downloaded or added model
parley models verify          re-check every installed model
parley models recommend       a matched set for this device
parley models default ID|PATH use it from now on
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from desktop import paths
from desktop.config import load_settings, save_settings
from desktop.errors import ModelError
from desktop.library import registry
from desktop.library.catalog import (
    ROLE_NAMES,
    SETTING_FOR_ROLE,
    CatalogEntry,
    find,
    load_catalog,
    search,
    setting_value,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="the model catalog, downloads and imports")
    actions = models.add_subparsers(dest="models_action", metavar="ACTION")
    actions.add_parser("list", help="installed models and the catalog (the default)")
    search_parser = actions.add_parser("search", help="search the catalog")
    search_parser.add_argument("text", nargs="+")
    download = actions.add_parser("download", help="download a catalog model")
    download.add_argument("id")
    add = actions.add_parser("add", help="check a model file (or folder) and copy it in")
    add.add_argument("path")
    add.add_argument(
        "--no-trial", action="store_true", help="skip the trial load in a separate process"
    )
    remove = actions.add_parser("remove", help="delete a downloaded or added model")
    remove.add_argument("id")
    actions.add_parser("verify", help="re-check every installed model")
    recommend = actions.add_parser("recommend", help="a matched set of models for this device")
    recommend.add_argument("--language", default="en", help="e.g. en, de, fr")
    recommend.add_argument("--target-ms", type=int, default=1200, help="voice-to-voice goal")
    default = actions.add_parser("default", help="use this model from now on")
    default.add_argument("id", help="a catalog id or a model path")


def run_models(args: argparse.Namespace) -> int:
    action = getattr(args, "models_action", None) or "list"
    return {
        "list": _list,
        "search": _search,
        "download": _download,
        "add": _add,
        "remove": _remove,
        "verify": _verify,
        "recommend": _recommend,
        "default": _default,
    }[action](args)


# -- listing ------------------------------------------------------------------------------


def _in_use() -> dict[str, Path | None]:
    settings = load_settings()
    chosen: dict[str, Path | None] = {}
    for role in ROLE_NAMES:
        try:
            chosen[role] = registry.resolve(role, settings).path
        except ModelError:
            chosen[role] = None
    return chosen


def _status(entry: CatalogEntry) -> str:
    if entry.starter:
        found = {e.path.name for e in registry.starter_models()}
        return "installed" if Path(entry.files[0]).name in found else "not installed"
    from desktop.library.download import installed

    return "installed" if installed(entry) else ""


def _catalog_rows(entries: list[CatalogEntry]) -> None:
    from desktop.library.fit import device, fit_label, model_ram_mb

    here = device()
    print(f"{'id':<34} {'role':<15} {'size':>7} {'RAM':>7}  {'fit':<8} status")
    for e in entries:
        ram = model_ram_mb(e)
        print(
            f"{e.id:<34} {ROLE_NAMES[e.role]:<15} {e.size_mb:>5} MB {ram:>4} MB  "
            f"{fit_label(ram, here):<8} {_status(e)}"
        )


def _list(args: argparse.Namespace) -> int:
    chosen = _in_use()
    print("Installed:")
    for entry in registry.all_models():
        mark = "*" if chosen.get(entry.role) == entry.path else " "
        print(f"{mark} {ROLE_NAMES[entry.role]:<15} {entry.name:<36} {entry.source}")
        print(f"  {'':<15} {entry.path}")
    print(f"* = in use. Add models with `parley models add PATH`; folder: {paths.models_dir()}")
    missing = [ROLE_NAMES[role] for role, path in chosen.items() if path is None]
    if missing:
        print(f"Missing: {', '.join(missing)}; {registry.STARTER_HINT}")
    print("\nCatalog (fit: for this device's free memory):")
    _catalog_rows(load_catalog())
    return 0


def _search(args: argparse.Namespace) -> int:
    found = search(" ".join(args.text))
    if not found:
        print("No catalog model matches.")
        return 1
    _catalog_rows(found)
    return 0


# -- changing what is installed -------------------------------------------------------------


class _ProgressBar:
    """One terminal line, redrawn at most a few times a second."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:  # noqa: ANN001 - DownloadProgress
        now = time.monotonic()
        done = p.total_bytes and p.done_bytes >= p.total_bytes
        if not done and now - self.last < 0.25:
            return
        self.last = now
        share = p.done_bytes / p.total_bytes if p.total_bytes else 0.0
        bar = "#" * int(share * 30)
        line = (
            f"[{bar:<30}] {share:4.0%} {p.done_bytes / 1e6:7.1f}/{p.total_bytes / 1e6:.1f} MB"
            f" {p.bytes_per_s / 1e6:5.1f} MB/s {Path(p.file).name}"
        )
        if self.live:
            sys.stderr.write("\r" + line[:110])
            if done:
                sys.stderr.write("\n")
        elif done:
            print(line, file=sys.stderr)
        sys.stderr.flush()


def _download(args: argparse.Namespace) -> int:
    entry = find(args.id)
    from desktop.library.download import download

    folder = download(entry, progress=_ProgressBar())
    print(f"downloaded and verified {entry.name} into {folder}")
    print(f"use it with: parley models default {entry.id}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from desktop.library.importer import add_model

    added = add_model(args.path, trial=not args.no_trial)
    print(f"added {ROLE_NAMES[added.role]} model {added.name}: {added.path}")
    print(f"use it with: parley models default {added.path}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    try:
        entry = find(args.id)
    except ModelError:
        from desktop.library.importer import remove_model

        print(f"removed {remove_model(args.id)}")
        return 0
    if entry.starter:
        raise ModelError(
            f"{entry.id} is a starter model, installed as a Python package",
            f"uninstall it with pip: pip uninstall {entry.package.split('==')[0]}",
        )
    from desktop.library.download import remove

    remove(entry)
    print(f"removed {entry.name} ({entry.folder})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from desktop.engine.llm.gguf_check import check_gguf
    from desktop.library.download import installed, verify

    problems = 0
    for entry in load_catalog():
        if entry.starter or not (entry.folder.exists() or installed(entry)):
            continue
        found = verify(entry)
        problems += len(found)
        print(
            f"{'ok' if not found else 'BAD':<4} {entry.id}" + "".join(f"\n     {p}" for p in found)
        )
    for model in registry.user_models():
        if model.role != "llm":
            continue
        try:
            check_gguf(model.path)
            print(f"ok   {model.path}")
        except ModelError as exc:
            problems += 1
            print(f"BAD  {model.path}\n     {exc.one_line()}")
    return 1 if problems else 0


def _recommend(args: argparse.Namespace) -> int:
    from desktop.library.fit import device, pipeline_ram_mb, recommend

    here = device()
    chosen = recommend(load_catalog(), here, target_v2v_ms=args.target_ms, language=args.language)
    print(f"This device: {here.cores} cores, {here.available_mb} MB free of {here.total_mb} MB.")
    for role in ("llm", "stt", "tts"):
        entry = chosen[role]
        print(f"  {ROLE_NAMES[role]:<15} {entry.id:<34} {entry.name}")
    need = pipeline_ram_mb(
        chosen["llm"], chosen["stt"], chosen["tts"], load_settings().context_size
    )
    print(f"Together about {need} MB of memory. Download each with `parley models download ID`.")
    return 0


def _default(args: argparse.Namespace) -> int:
    path = Path(args.id).expanduser()
    if path.exists():
        from desktop.library.importer import check_model, classify

        role = classify(path)
        check_model(path, role, trial=False)
        value = str(path.resolve())
    else:
        entry = find(args.id)
        role = entry.role
        if entry.starter:
            value = ""  # the starter model is what an empty setting means
        else:
            from desktop.library.download import installed

            if not installed(entry):
                raise ModelError(
                    f"{entry.id} is not downloaded yet", f"parley models download {entry.id}"
                )
            value = setting_value(entry)
    settings = load_settings()
    save_settings(settings.replace(**{SETTING_FOR_ROLE[role]: value}))
    print(f"{ROLE_NAMES[role]} model is now {value or 'the starter model'}")
    return 0
