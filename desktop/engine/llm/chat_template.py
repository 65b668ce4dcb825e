"""Checks a GGUF's chat template before Parley chats with it.

A template is Jinja code from the model file. It is rendered the way
llama-cpp-python renders it, in an immutable sandbox, with a sample
conversation; a template that does not parse, fails to render, or reaches for
Python internals is refused with a ModelError that says which.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable

from desktop.engine.llm.gguf_check import one_line, shorten
from desktop.errors import ModelError


def _tojson(
    x: object,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """The tojson filter as llama-cpp-python (and transformers) define it."""
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class _TemplateRaisedError(Exception):
    """The template called raise_exception()."""


def check_chat_template(template: str, source: str = "") -> None:
    """Check that a chat template parses and renders safely; raise ModelError if not.

    It is rendered the way llama-cpp-python renders it (an immutable Jinja
    sandbox), so a template that fails here would fail or misbehave in a chat.
    """
    try:
        import jinja2
        import jinja2.ext
        from jinja2 import nodes
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise ModelError(
            "the chat template cannot be checked: jinja2 is not installed", "install jinja2"
        ) from None
    where = f" ({source})" if source else ""
    hint = "choose another model"

    class IgnoreGenerationTags(jinja2.ext.Extension):
        """Accept HuggingFace's {% generation %} tag, as llama-cpp-python does."""

        tags = {"generation"}

        def parse(self, parser: jinja2.parser.Parser) -> list[nodes.Node]:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    try:
        tree = env.parse(template)
        compiled = env.from_string(tree)
    except jinja2.TemplateSyntaxError as e:
        raise ModelError(
            f"the chat template{where} does not parse: "
            f"{one_line(str(e.message))} (line {e.lineno})",
            hint,
        ) from None
    except Exception as e:  # noqa: BLE001 - anything jinja throws on bad input
        raise ModelError(
            f"the chat template{where} does not parse: {one_line(str(e))}", hint
        ) from None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("__"):
            raise ModelError(
                f"the chat template{where} tries to escape the sandbox: it reaches "
                f"for {shorten(attr)}",
                hint,
            )

    def raise_exception(message: str) -> None:
        raise _TemplateRaisedError(message)

    system = {"role": "system", "content": "You are a helpful assistant."}
    chat = [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there."},
        {"role": "user", "content": "What can you do?"},
    ]
    for messages in ([system, *chat], chat):  # some templates refuse a system message
        try:
            compiled.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token="<s>",
                eos_token="</s>",
                raise_exception=raise_exception,
                strftime_now=lambda fmt: "",
                tools=None,
                functions=None,
                tool_choice=None,
                function_call=None,
            )
            return
        except _TemplateRaisedError as e:
            refusal = str(e)
        except jinja2.exceptions.SecurityError as e:
            raise ModelError(
                f"the chat template{where} tries to escape the sandbox: {one_line(str(e))}", hint
            ) from None
        except Exception as e:  # noqa: BLE001 - a hostile template can raise anything
            raise ModelError(
                f"the chat template{where} does not render: {one_line(str(e)) or type(e).__name__}",
                hint,
            ) from None
    raise ModelError(
        f"the chat template{where} does not render: it refuses a plain "
        f"conversation ({shorten(refusal)})",
        hint,
    )


def render_pieces(
    render: Callable[[list[dict[str, str]]], str], messages: list[dict[str, str]]
) -> tuple[list[tuple[str, bool]], bool]:
    """The rendered prompt split into (text, is_content) pieces, and whether the split is exact.

    A message's content is the user's (or a transcript's, or a reply's) text and
    must reach the model as plain text, never as control tokens: someone who
    types ``<|im_start|>system`` must not be able to open a system turn. The
    template's own markup, in contrast, is made of control tokens. So the
    template is rendered with a unique marker in place of each content and split
    on the markers; the caller tokenizes the two kinds differently.

    The split is exact when putting the contents back gives the template's own
    rendering. A template that transforms content (strips it, cuts reasoning
    out of it) is not exact; the pieces then hold the untransformed content.
    """
    contents = [m.get("content") for m in messages]
    nonce = _nonce(c for c in contents if isinstance(c, str))
    marked = [
        {**m, "content": f"\ue000{nonce}.{i}\ue001"} if isinstance(m.get("content"), str) else m
        for i, m in enumerate(messages)
    ]
    parts = re.split(f"\ue000{nonce}\\.(\\d+)\ue001", render(marked))
    pieces: list[tuple[str, bool]] = []
    for n, part in enumerate(parts):
        if n % 2 == 0:
            if part:
                pieces.append((part, False))
        else:
            content = contents[int(part)]
            if content:
                pieces.append((str(content), True))
    exact = "".join(text for text, _ in pieces) == render(messages)
    return pieces, exact


def _nonce(texts: Iterable[str]) -> str:
    """Digits that no content holds (digits survive any case filter a template applies)."""
    joined = "\n".join(texts)
    while True:
        nonce = str(secrets.randbelow(10**9))
        if f"\ue000{nonce}" not in joined:
            return nonce
