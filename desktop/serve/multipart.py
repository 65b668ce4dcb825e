"""A small multipart/form-data reader for audio uploads.

The standard library's ``cgi`` module is deprecated (and gone in 3.13), and the
``email`` parser rewrites line endings in binary parts, so uploads are split
on the boundary here, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message


class MultipartError(ValueError):
    """The body is not the multipart/form-data its header says it is."""


@dataclass(frozen=True)
class FormField:
    name: str
    value: bytes
    filename: str | None = None

    def text(self) -> str:
        try:
            return self.value.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise MultipartError(f"the form field {self.name!r} is not UTF-8 text") from exc


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def content_type_boundary(content_type: str) -> str | None:
    """The boundary of a multipart/form-data Content-Type, or None for any other type."""
    message = _header_params("content-type", content_type)
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def parse_form(body: bytes, boundary: str) -> dict[str, FormField]:
    """The form's fields by name (the first of each name wins)."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("the multipart body is cut off or has no closing boundary")
    fields: dict[str, FormField] = {}
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n"):
            raise MultipartError("a multipart part does not start with a line break")
        head, separator, value = chunk[2:].partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("a multipart part has no blank line after its headers")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, rest = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = rest.strip()
        params = _header_params("content-disposition", disposition)
        name = params.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise MultipartError("a multipart part has no field name")
        filename = params.get_filename()
        fields.setdefault(name, FormField(name, value, filename))
    return fields
