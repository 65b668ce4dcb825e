"""``parley models add``: bring a model file the user has into Parley's models folder.

A GGUF file is checked (structure, then chat template) before anything is
copied, and then loaded once in a throw-away process: llama.cpp may abort on a
file that passes every check, and that must cost a message, not the app.
Copies go to a ``.part`` file renamed at the end, so a full disk leaves no
half model behind.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
from pathlib import Path

from desktop import paths
from desktop.errors import ModelError, OutputError
from desktop.library.registry import ModelEntry

TRIAL_TIMEOUT_S = 120


def _trial_load(path: str) -> None:
    """Runs in a child process: load the model the way the engine does, then exit."""
    from desktop.engine.llm.llama import LlamaCppBackend

    LlamaCppBackend(path, context_size=512, threads=1)


def trial_load(path: Path) -> None:
    """Load ``path`` in a spawned child; a crash there becomes a ModelError here."""
    context = multiprocessing.get_context("spawn")
    errors = context.SimpleQueue()
    child = context.Process(target=_trial_in_child, args=(str(path), errors), daemon=True)
    child.start()
    child.join(TRIAL_TIMEOUT_S)
    if child.is_alive():
        child.kill()
        child.join()
        raise ModelError(f"loading {path.name} took over {TRIAL_TIMEOUT_S} s; gave up")
    if not errors.empty():
        message, hint = errors.get()
        raise ModelError(message, hint)
    if child.exitcode != 0:
        from desktop.host.supervisor import describe_exit

        raise ModelError(
            f"llama.cpp crashed while loading {path.name} ({describe_exit(child.exitcode)})",
            "the file passed Parley's checks but llama.cpp cannot use it; try another download",
        )


def _trial_in_child(path: str, errors: multiprocessing.SimpleQueue) -> None:
    from desktop.errors import ParleyError

    try:
        _trial_load(path)
    except ParleyError as exc:
        errors.put((exc.message, exc.hint))


def classify(path: Path) -> str:
    """The role of a model file or folder: 'llm', 'stt' or 'tts'; ModelError if none."""
    if path.is_dir():
        if (path / "model.bin").is_file():
            return "stt"
        raise ModelError(
            f"{path} is a folder without model.bin",
            "a speech-to-text model is a faster-whisper (CTranslate2) folder",
        )
    if path.suffix.lower() == ".gguf":
        return "llm"
    if path.suffix.lower() == ".onnx":
        if not Path(f"{path}.json").is_file():
            raise ModelError(
                f"the voice {path.name} has no {path.name}.json beside it",
                "a piper voice is an .onnx file with its .onnx.json",
            )
        return "tts"
    raise ModelError(
        f"{path.name} is not a model Parley can use",
        "add a GGUF chat model (.gguf), a piper voice (.onnx) or a faster-whisper folder",
    )


def check_model(path: Path, role: str, trial: bool = True) -> None:
    """Everything short of copying: the file's structure, its template, a trial load."""
    if role != "llm":
        return
    from desktop.engine.llm.chat_template import check_chat_template
    from desktop.engine.llm.gguf_check import check_gguf

    info = check_gguf(path)
    if not info.chat_template:
        raise ModelError(
            f"{path.name} has no chat template: it is a base model, which continues text "
            "instead of answering",
            "choose an instruct or chat version of the model",
        )
    check_chat_template(info.chat_template, source=path.name)
    if trial:
        trial_load(path)


def add_model(source: str | os.PathLike, trial: bool = True) -> ModelEntry:
    """Check a model and copy it into the models folder; returns where it now lives."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ModelError(f"no such file: {path}")
    role = classify(path)
    check_model(path, role, trial=trial)
    folder = paths.models_dir()
    target = folder / path.name
    if target.exists():
        raise ModelError(
            f"a model named {path.name} is already in {folder}",
            "remove it first (parley models remove), or rename the new file",
        )
    companions = [Path(f"{path}.json")] if role == "tts" else []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for item in [path, *companions]:
            _copy(item, folder / item.name)
    except OSError as exc:
        for item in [path, *companions]:
            _discard(folder / item.name)
        raise _copy_error(exc, folder) from exc
    return ModelEntry(role, target.stem if role != "stt" else target.name, target, "models folder")


def _copy(source: Path, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    if source.is_dir():
        shutil.copytree(source, part)
    else:
        shutil.copyfile(source, part)
    os.replace(part, target)


def _discard(target: Path) -> None:
    for leftover in (target.with_name(target.name + ".part"), target):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.exists():
            leftover.unlink()


def _copy_error(exc: OSError, folder: Path) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return OutputError(
            f"not enough space in {folder} for the model", "free some space and add it again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write to {folder}: {exc.strerror}")
    return OutputError(f"copying the model into {folder} failed: {exc.strerror or exc}")


def remove_model(name: str) -> Path:
    """Delete a model the user added (by file or folder name) from the models folder."""
    folder = paths.models_dir()
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents or not target.exists():
        raise ModelError(f"no model named {name!r} in {folder}", "see `parley models list`")
    _discard(target)
    if target.suffix == ".onnx":
        _discard(Path(f"{target}.json"))
    return target
