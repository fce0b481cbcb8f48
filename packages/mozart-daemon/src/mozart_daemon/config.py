"""DaemonConfig: the YAML file given to ``mozartd --config``, with the guide's defaults.

Every field of the daemon guide's tables exists here with its default and bounds; an
unknown field is an error that names it. ``config_file`` records where the config came
from: SIGHUP re-reads that file and applies what can change live (``RELOADABLE``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec import Meta, Struct, field

DEFAULT_SOCKET_PATH = Path("/tmp/mozartd.sock")
DEFAULT_PID_FILE = Path("/tmp/mozartd.pid")
DEFAULT_STATE_DB = Path("~/.mozart/daemon-state.db")

LogLevel = Literal["debug", "info", "warning", "error"]


class ConfigError(Exception):
    """The config file cannot be read or does not describe a valid DaemonConfig."""


class _Strict(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SocketConfig(_Strict):
    path: Path = DEFAULT_SOCKET_PATH
    # YAML 1.1 has no ``0o`` prefix, so ``0o660`` arrives as a string: see _octal().
    permissions: Annotated[int, Meta(ge=0, le=0o777)] = 0o660
    backlog: Annotated[int, Meta(ge=1, le=4096)] = 5
    # Concurrent client connections; past it a client gets TooManyConnections.
    max_connections: Annotated[int, Meta(ge=1, le=10_000)] = 100


class ResourceLimits(_Strict):
    max_memory_mb: Annotated[int, Meta(ge=1)] = 8192
    max_processes: Annotated[int, Meta(ge=1)] = 50
    max_api_calls_per_minute: Annotated[int, Meta(ge=1)] = 60


class DaemonConfig(_Strict):
    socket: SocketConfig = field(default_factory=SocketConfig)
    pid_file: Path = DEFAULT_PID_FILE
    max_concurrent_jobs: Annotated[int, Meta(ge=1, le=50)] = 5
    max_concurrent_sheets: Annotated[int, Meta(ge=1, le=1000)] = 10
    job_timeout_seconds: Annotated[float, Meta(gt=0)] = 21600.0
    shutdown_timeout_seconds: Annotated[float, Meta(ge=0)] = 300.0
    monitor_interval_seconds: Annotated[float, Meta(gt=0)] = 15.0
    max_job_history: Annotated[int, Meta(ge=1)] = 1000
    # How many jobs deep an ``on_success`` ``run_job`` chain may go (0: no chains).
    max_chain_depth: Annotated[int, Meta(ge=0, le=100)] = 5
    log_level: LogLevel = "info"
    log_file: Path | None = None
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)
    state_backend_type: Literal["sqlite"] = "sqlite"
    state_db_path: Path = DEFAULT_STATE_DB
    config_file: Path | None = None

    def expanded(self) -> DaemonConfig:
        """A copy with ``~`` expanded and relative paths made absolute (against the cwd)."""

        def fix(p: Path) -> Path:
            return Path(os.path.abspath(p.expanduser()))

        return msgspec.structs.replace(
            self,
            socket=msgspec.structs.replace(self.socket, path=fix(self.socket.path)),
            pid_file=fix(self.pid_file),
            log_file=fix(self.log_file) if self.log_file is not None else None,
            state_db_path=fix(self.state_db_path),
            config_file=fix(self.config_file) if self.config_file is not None else None,
        )


# Fields SIGHUP applies to a running daemon. The rest (socket, pid file, database, log
# file) are bound to open resources and need a restart; a reload that changes them logs so.
RELOADABLE: frozenset[str] = frozenset(
    {
        "max_concurrent_jobs",
        "max_concurrent_sheets",
        "job_timeout_seconds",
        "shutdown_timeout_seconds",
        "monitor_interval_seconds",
        "max_job_history",
        "max_chain_depth",
        "log_level",
        "resource_limits.max_memory_mb",
        "resource_limits.max_processes",
        "resource_limits.max_api_calls_per_minute",
        "socket.max_connections",
    }
)


def _octal(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return int(text[2:] if text.startswith("0o") else text, 8)
        except ValueError:
            return value
    return value


def _dec_hook(tp: type[Any], obj: object) -> object:
    if tp is Path and isinstance(obj, str):
        return Path(obj)
    raise NotImplementedError


def config_from_mapping(data: object, *, source: str = "<config>") -> DaemonConfig:
    """Build a DaemonConfig from parsed YAML; errors name the field and the source."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping, not {type(data).__name__}")
    socket = data.get("socket")
    if isinstance(socket, dict) and "permissions" in socket:
        data = {**data, "socket": {**socket, "permissions": _octal(socket["permissions"])}}
    try:
        config = msgspec.convert(data, DaemonConfig, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc
    return config


def _describe(exc: msgspec.ValidationError) -> str:
    # msgspec says "Object contains unknown field `x` - at `$.socket`": make the path readable.
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        return f"{where.rstrip('`')}: {message}"
    return text


def load_config(path: Path | None) -> DaemonConfig:
    """Read the config file (``None``: all defaults); ``config_file`` is set to ``path``."""
    if path is None:
        return DaemonConfig().expanded()
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    config = config_from_mapping(data, source=str(path))
    if config.config_file is None:
        config = msgspec.structs.replace(config, config_file=path)
    return config.expanded()


def flatten(config: DaemonConfig) -> dict[str, object]:
    """``{"resource_limits.max_memory_mb": 8192, ...}``: for diffs and reload logging."""
    out: dict[str, object] = {}

    def walk(prefix: str, obj: object) -> None:
        if isinstance(obj, Struct):
            for name in obj.__struct_fields__:
                walk(f"{prefix}{name}.", getattr(obj, name))
        else:
            out[prefix.rstrip(".")] = obj

    walk("", config)
    return out


def diff(old: DaemonConfig, new: DaemonConfig) -> dict[str, tuple[object, object]]:
    """Fields whose value differs, as ``name -> (old, new)``."""
    a, b = flatten(old), flatten(new)
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
