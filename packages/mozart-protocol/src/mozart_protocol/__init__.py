"""Mozart's wire contract: typed JSON-RPC models, the method and error tables, framing, client.

Everything here is generated from ``schema/rpc.schema.json`` or written against it::

    from mozart_protocol import METHODS, Method, JobStatus, errors, framing
    from mozart_protocol.client import DaemonClient

The models (``JobSubmitParams``, ``JobStatus``, ``JobEvent``, ...) are msgspec Structs that
refuse unknown fields. ``framing`` and ``client`` are submodules imported on first use, so
importing this package (for example through ``mozart_protocol.score``) stays cheap.
"""

from mozart_protocol import errors
from mozart_protocol._generated import models
from mozart_protocol._generated.error_codes import ERRORS, ErrorSpec
from mozart_protocol._generated.methods import (
    METHODS,
    NOTIFICATIONS,
    PROTOCOL_VERSION,
    Method,
    MethodSpec,
)
from mozart_protocol._generated.models import *  # noqa: F403  (every wire model, by name)
from mozart_protocol.errors import (
    DaemonNotRunning,
    MozartError,
    ProtocolError,
    RpcError,
    RpcTimeout,
)

__version__ = "0.1.0"

__all__ = [
    "ERRORS",
    "METHODS",
    "NOTIFICATIONS",
    "PROTOCOL_VERSION",
    "DaemonNotRunning",
    "ErrorSpec",
    "Method",
    "MethodSpec",
    "MozartError",
    "ProtocolError",
    "RpcError",
    "RpcTimeout",
    "__version__",
    "errors",
    "models",
]
__all__ += models.__all__
