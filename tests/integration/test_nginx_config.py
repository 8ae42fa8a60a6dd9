"""The nginx configuration: one template, rendered for the local stack and for compose."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tasktracker.cli import main
from tasktracker.deploy.nginx import NginxConfig, render
from tasktracker.deploy.processes import free_port
from tests.support.services import unavailable

REPO = Path(__file__).resolve().parents[2]
COMPOSE_CONFIG = REPO / "deploy" / "nginx" / "nginx.conf"
COMPOSE_UPSTREAMS = ("api-1:8000", "api-2:8000")


def test_the_committed_compose_config_is_the_rendered_template():
    assert COMPOSE_CONFIG.read_text() == render(NginxConfig(COMPOSE_UPSTREAMS, listen="80"))


def test_every_upstream_keepalive_retries_and_headers_are_configured():
    text = render(NginxConfig(("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003")))
    assert "server 127.0.0.1:8001 " in text and "server 127.0.0.1:8003 " in text
    assert "keepalive 32;" in text and 'proxy_set_header Connection "";' in text
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in text
    assert "non_idempotent" not in text.replace("unless told `non_idempotent`", "")
    assert "proxy_next_upstream_tries 3;" in text
    assert "proxy_set_header X-Request-ID $tt_request_id;" in text
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    assert "client_max_body_size 1m;" in text
    assert "gzip_types application/json application/problem+json;" in text


@pytest.mark.parametrize(
    "upstreams, listen",
    [((), "80"), (("api-1",), "80"), (("api 1:80",), "80"), (("a:1",), "80; evil")],
)
def test_bad_upstreams_and_listen_addresses_are_refused(upstreams, listen):
    with pytest.raises(ValueError):
        NginxConfig(upstreams, listen=listen)


def test_nginx_accepts_the_stack_config(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        unavailable("nginx is not installed; `make test` installs it")
    config = NginxConfig(
        ("127.0.0.1:8001", "127.0.0.1:8002"), listen=f"127.0.0.1:{free_port()}", state_dir=tmp_path
    )
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(config))
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_config_command_prints_the_rendering(capsys):
    assert main(["nginx-config", "--upstream", "api-1:8000", "--upstream", "api-2:8000"]) == 0
    assert capsys.readouterr().out == COMPOSE_CONFIG.read_text()
