"""Security: a checkpoint that carries a pickled object is refused without running it; the tests
cannot reach the network (tests/netguard), in process or in a subprocess, but loopback still
works; the Inception weights are fetched only when the config allows it; no configured name can
leave results/ or reach a shell unquoted.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from conftest import REPO, netguard

from wganbench.cli import main
from wganbench.evaluate import inception
from wganbench.evaluate.extractor_choice import Target, resolve_extractor
from wganbench.evaluate.settings import resolve_settings
from wganbench.rundir import CheckpointError, RunDir

BLOCKED = ("203.0.113.1", 80)  # TEST-NET-3: never a real host


class Payload:
    """Unpickling this runs Path.write_text(marker): code execution, if the loader allows it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return Path.write_text, (self.marker, "the pickled payload ran\n")


def poisoned_run(folder: Path, marker: Path) -> RunDir:
    """A run folder whose checkpoint.pt holds real weights and, beside them, the payload."""
    run = RunDir(folder)
    run.save_checkpoint({"generator": torch.nn.Linear(2, 2).state_dict(), "iteration": 3, "extra": Payload(marker)})
    return run


def test_a_checkpoint_carrying_a_pickled_object_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    run = poisoned_run(tmp_path / "run", marker)
    with pytest.raises(CheckpointError) as refused:
        run.load_checkpoint()
    message = str(refused.value)
    assert "\n" not in message and str(run.checkpoint) in message and "--restart" in message
    assert not marker.exists()
    # the payload is live: an unsafe load would have run it
    torch.load(run.checkpoint, weights_only=False)
    assert marker.read_text() == "the pickled payload ran\n"


def test_train_on_a_poisoned_run_folder_exits_2_in_one_line_without_running_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "payload-ran"
    run = poisoned_run(tmp_path / "run", marker)
    before = run.checkpoint.read_bytes()
    with pytest.raises(SystemExit) as exited:
        main(["train", "--objective", "nsgan", "--arch", "mlp", "--dataset", "8gaussians", "--iterations", "2",
              "--out", str(run.path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith("wganbench: error: checkpoint ") and "unreadable" in err
    assert not marker.exists() and run.checkpoint.read_bytes() == before  # not run, not overwritten


# ----------------------------------------------------------------------------------------------
# the network guard (tests/conftest.py: network_blocked, tests/netguard/sitecustomize.py)

def test_the_network_is_blocked_in_the_test_process() -> None:
    with pytest.raises(OSError, match="network access blocked in tests"):
        socket.create_connection(BLOCKED, timeout=5)
    with pytest.raises(OSError, match="network access blocked"):
        urllib.request.urlopen("http://203.0.113.1/", timeout=5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="network access"):
        udp.sendto(b"x", BLOCKED)


def test_the_network_is_blocked_in_subprocesses() -> None:
    assert str(netguard.__file__).startswith(str(REPO / "tests" / "netguard"))
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(REPO / "tests" / "netguard")
    code = "import socket; socket.create_connection(('203.0.113.1', 80), timeout=5)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "NetworkBlocked: network access blocked in tests" in result.stderr


def serve_once(server: socket.socket) -> threading.Thread:
    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(b"pong")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_loopback_and_unix_sockets_still_work_here_and_in_subprocesses(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        serve_once(server)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert client.recv(4) == b"pong"
        serve_once(server)
        code = f"import socket; print(socket.create_connection(('localhost', {port}), timeout=5).recv(4))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "b'pong'", result.stderr
    path = str(tmp_path / "unix.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        serve_once(server)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            assert client.recv(4) == b"pong"


@pytest.mark.parametrize("address, allowed", [
    (("127.0.0.1", 1), True), (("127.8.9.10", 1), True), (("::1", 1, 0, 0), True), (("localhost", 1), True),
    (("203.0.113.1", 80), False), (("10.0.0.1", 6817), False), (("example.org", 443), False),
    (("2001:db8::1", 80, 0, 0), False),
])
def test_the_guard_lets_loopback_through_and_nothing_else(address: tuple, allowed: bool) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    assert netguard.allowed(family, address) is allowed
    assert netguard.allowed(socket.AF_UNIX, "/run/munge/munge.socket.2")


# ----------------------------------------------------------------------------------------------
# Inception weights: downloaded only when the config says so

@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    """No Inception weights on disk; every download attempt is recorded (and fails)."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "_failed_downloads", {})
    spy = mock.MagicMock(side_effect=OSError("no network in tests"))
    monkeypatch.setattr(urllib.request, "urlopen", spy)
    yield spy
    torch.hub.set_dir(previous)


@pytest.mark.parametrize("config", ["config/config.yaml", "config/test.yaml"])
def test_the_offline_grids_never_try_to_download(empty_hub: mock.MagicMock, tmp_path: Path, config: str) -> None:
    evaluation = yaml.safe_load((REPO / config).read_text()).get("evaluation", {})
    settings = resolve_settings({**evaluation, "extractor_dir": str(tmp_path / "extractors")})
    for name in ("inception-v3-compat", "auto"):
        try:
            resolve_extractor(Target("digits", 16, None, {**settings, "feature_extractor": name,
                                                          "train_extractor": False}))
        except ValueError:
            pass  # no weights and no classifier file here: refused, which is what this test allows
    assert empty_hub.call_count == 0


def test_inception_downloads_only_when_inception_download_is_true(empty_hub: mock.MagicMock) -> None:
    settings = resolve_settings({"feature_extractor": "inception-v3-compat"})
    with pytest.raises(ValueError, match="inception_download is false"):
        resolve_extractor(Target("digits", 16, None, settings))
    assert empty_hub.call_count == 0
    with pytest.raises(ValueError, match="cannot download"):
        resolve_extractor(Target("digits", 16, None, {**settings, "inception_download": True}))
    assert empty_hub.call_count == 1


# ----------------------------------------------------------------------------------------------
# names and shell commands

def test_every_shell_command_quotes_what_comes_from_the_config() -> None:
    """Every {wildcards.*}, {params.*}, {input*}, {output*} and {log} in a shell: string of the
    workflow is formatted with :q, so no configured value is parsed by the shell."""
    unquoted, blocks = [], 0
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.findall(r"shell:\n((?:\s+\".*\"\n)+)", path.read_text()):
            blocks += 1
            for field in re.findall(r"\{([^{}]+)\}", block):
                if field.split(".")[0].split(":")[0] in ("wildcards", "params", "input", "output", "log") \
                        and not field.endswith(":q"):
                    unquoted.append(f"{path.name}: {{{field}}}")
    assert blocks >= 7 and not unquoted, (blocks, unquoted)


def test_wildcards_take_only_valid_names() -> None:
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    name = re.search(r'^NAME = r"(.+)"$', text, re.M).group(1)
    schema = yaml.safe_load((REPO / "wganbench" / "schemas" / "config.schema.yaml").read_text())
    assert f"^{name}$" == schema["$defs"]["name"]["pattern"]
    for wildcard in ("experiment", "dataset", "objective", "arch"):
        assert re.search(rf"^    {wildcard}=NAME,$", text, re.M), wildcard
