"""Tool calls parsed from the exact text the catalog's tool-capable chat templates
put in a model's turn: the templates themselves (llama.cpp's copies of Qwen2.5,
QwQ and Llama 3.2, from the llama-cpp-python source package on PyPI) render an
assistant message that calls a tool, and what they write is parsed back.
Phi-4-mini's template is not among them: its format is tested as its model card
documents it."""

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

from desktop.engine.llm.tool_calls import (
    MalformedToolCallError,
    ToolCall,
    may_be_call,
    parse_tool_calls,
)

TEMPLATES = {
    "qwen2.5": "Qwen-Qwen2.5-7B-Instruct.jinja",
    "qwq": "Qwen-QwQ-32B.jinja",
    "llama-3.2": "meta-llama-Llama-3.2-3B-Instruct.jinja",
}
CALL = ToolCall("start_timer", {"seconds": 300, "name": "pasta"})
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "start_timer",
            "description": "Start a timer.",
            "parameters": {"type": "object", "properties": {"seconds": {"type": "integer"}}},
        },
    }
]


@pytest.fixture(scope="module")
def templates():
    """The templates, read from the llama-cpp-python sdist (cached under ~/.cache/parley)."""
    llama_version = version("llama_cpp_python")
    cache = Path.home() / ".cache" / "parley" / "sdist"
    sdist = cache / f"llama_cpp_python-{llama_version}.tar.gz"
    if not sdist.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={llama_version}",
                "-d",
                str(cache),
            ],
            check=True,
        )
    found = {}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            for key, name in TEMPLATES.items():
                if member.name.endswith(f"models/templates/{name}"):
                    found[key] = archive.extractfile(member).read().decode("utf-8")
    assert set(found) == set(TEMPLATES), f"templates missing from {sdist}"
    return found


def model_turn(template: str) -> str:
    """What the template writes for an assistant turn that calls CALL, as the model
    would have written it (the text after the generation prompt, before end of turn)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
    asked = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Pasta!"}]
    prompt = formatter(messages=asked, tools=TOOLS).prompt
    formatter.add_generation_prompt = False
    call = {"role": "assistant", "content": "", "tool_calls": [CALL.to_message()]}
    whole = formatter(messages=[*asked, call], tools=TOOLS).prompt
    # QwQ's generation prompt also opens the model's <think>, which the rendered
    # history leaves out: the call starts where the two part.
    common = os.path.commonprefix([prompt, whole])
    common = common[: common.rfind("\n") + 1]  # "<t" of both "<think>" and "<tool_call>"
    assert len(common) > len(prompt) - 20, "the call does not follow the generation prompt"
    turn = whole[len(common) :]
    for end in ("<|im_end|>", "<|eot_id|>", "<|eom_id|>"):
        turn = turn.split(end)[0]
    return turn


@pytest.mark.parametrize("family", TEMPLATES)
def test_a_call_as_the_template_writes_it_is_parsed_back(templates, family):
    written = model_turn(templates[family])
    assert may_be_call(written[:3]) and may_be_call(written)
    assert parse_tool_calls(written) == [CALL], written


def test_phi_4_mini_calls_as_documented():
    written = '<|tool_call|>[{"name": "start_timer", "arguments": {"seconds": 300, "name": "pasta"}}]<|/tool_call|>'
    assert parse_tool_calls(written) == [CALL]


def test_several_calls_and_string_arguments():
    written = (
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>\n'
        '<tool_call>\n{"name": "start_timer", "arguments": "{\\"seconds\\": 300, \\"name\\": \\"pasta\\"}"}\n</tool_call>'
    )
    assert parse_tool_calls(written) == [ToolCall("get_time", {}), CALL]


def test_ordinary_replies_are_not_calls():
    for reply in ("The capital of France is Paris.", "{braces} in a sentence.", ""):
        assert parse_tool_calls(reply) == []
    assert not may_be_call("The capital")
    assert not may_be_call("Sure, {")
    assert not may_be_call("[laughs] Sure") and not may_be_call("{braces} in a sentence")
    assert may_be_call("  ") and may_be_call('{ "na')  # not yet known


@pytest.mark.parametrize(
    "broken",
    [
        '<tool_call>\n{"name": "start_timer", "arguments": {"seconds": 300\n</tool_call>',
        '<tool_call>{"arguments": {}}</tool_call>',
        '{"name": "start_timer", "parameters": [1, 2]}',
        "<|tool_call|>not json<|/tool_call|>",
    ],
)
def test_a_malformed_call_is_an_error_with_a_message(broken):
    with pytest.raises(MalformedToolCallError) as error:
        parse_tool_calls(broken)
    assert str(error.value)
