from pathlib import Path

import pytest
from mozart_daemon.config import (
    ConfigError,
    DaemonConfig,
    config_from_mapping,
    diff,
    load_config,
)


def test_defaults_match_the_guide() -> None:
    c = DaemonConfig()
    assert c.socket.path == Path("/tmp/mozartd.sock")
    assert c.socket.permissions == 0o660
    assert c.socket.backlog == 5
    assert c.pid_file == Path("/tmp/mozartd.pid")
    assert c.max_concurrent_jobs == 5
    assert c.max_concurrent_sheets == 10
    assert c.job_timeout_seconds == 21600.0
    assert c.shutdown_timeout_seconds == 300.0
    assert c.monitor_interval_seconds == 15.0
    assert c.max_job_history == 1000
    assert c.log_level == "info"
    assert c.log_file is None
    assert c.resource_limits.max_memory_mb == 8192
    assert c.resource_limits.max_processes == 50
    assert c.resource_limits.max_api_calls_per_minute == 60
    assert c.state_backend_type == "sqlite"
    assert c.config_file is None


def test_no_file_gives_defaults_with_expanded_state_path() -> None:
    c = load_config(None)
    assert c.state_db_path == Path("~/.mozart/daemon-state.db").expanduser()


def test_guide_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "mozartd.yaml"
    path.write_text(
        "socket:\n  path: /tmp/mozartd.sock\n  permissions: 0o660\n"
        "pid_file: /tmp/mozartd.pid\nmax_concurrent_jobs: 3\njob_timeout_seconds: 43200\n"
        "log_level: debug\nlog_file: ~/.mozart/mozartd.log\n"
        "resource_limits:\n  max_memory_mb: 4096\n  max_processes: 30\n"
    )
    c = load_config(path)
    assert c.socket.permissions == 0o660
    assert c.max_concurrent_jobs == 3
    assert c.job_timeout_seconds == 43200.0
    assert c.log_file == Path("~/.mozart/mozartd.log").expanduser()
    assert c.resource_limits.max_memory_mb == 4096
    assert c.config_file == path


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"bogus": 1}, "bogus"),
        ({"socket": {"pathh": "/x"}}, "pathh"),
        ({"resource_limits": {"max_memory": 1}}, "max_memory"),
        ({"max_concurrent_jobs": 0}, "max_concurrent_jobs"),
        ({"max_concurrent_jobs": 51}, "max_concurrent_jobs"),
        ({"log_level": "loud"}, "log_level"),
        ({"state_backend_type": "postgres"}, "state_backend_type"),
    ],
)
def test_invalid_fields_are_named(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        config_from_mapping(data)


def test_permissions_accept_yaml_octal_forms() -> None:
    assert config_from_mapping({"socket": {"permissions": "0o600"}}).socket.permissions == 0o600
    assert config_from_mapping({"socket": {"permissions": 0o640}}).socket.permissions == 0o640


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("socket: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_diff_names_changed_fields() -> None:
    a = config_from_mapping({})
    b = config_from_mapping({"max_concurrent_jobs": 2, "resource_limits": {"max_processes": 9}})
    assert diff(a, b) == {
        "max_concurrent_jobs": (5, 2),
        "resource_limits.max_processes": (50, 9),
    }
