"""Chat templates from model files: parsed and rendered safely, or refused clearly."""

import pytest

from desktop.engine.llm.chat_template import check_chat_template
from desktop.engine.llm.gguf_check import check_gguf
from desktop.errors import ModelError
from tests import gguf_samples


def test_real_chat_template_passes():
    check_chat_template(check_gguf(gguf_samples.starter_model()).chat_template, "SmolLM2")


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{% if %}", "does not parse: Expected an expression"),
        ("ok\n{% for m in messages %}\n{{ m.content }", "(line 3)"),
        ("{{ messages.append(1) }}", "tries to escape the sandbox"),
        ("{{ cycler['__init__'] }}", "tries to escape the sandbox"),
        ("{{ raise_exception('no chats today') }}", "refuses a plain conversation"),
        ("{{ messages[0].content.nope() }}", "does not render"),
        ("{{ 1 / 0 }}", "does not render: division by zero"),
    ],
)
def test_chat_template_problems(template, fragment):
    with pytest.raises(ModelError) as caught:
        check_chat_template(template, "test")
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_templates_that_refuse_a_system_message_are_accepted():
    check_chat_template(
        "{% for m in messages %}{% if m.role == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<bot>{% endif %}"
        "{% generation %}{% endgeneration %}{% for m in messages %}{% break %}{% endfor %}"
        "{{ messages | tojson(ensure_ascii=False) }}"
    )
