"""``parley serve``: Parley's own models behind an OpenAI-compatible HTTP API.

Other programs on this machine (editors, scripts, OpenAI client libraries) can
use the private on-device models instead of a cloud service. Modules:
``auth`` (token, loopback, Host/Origin rules), ``openai_api`` (the wire
format), ``chat`` (one completion with per-request sampling), ``multipart``
(audio uploads) and ``server`` (the HTTP server itself).
"""

from desktop.serve.server import ParleyServer, ServeOptions

__all__ = ["ParleyServer", "ServeOptions"]
