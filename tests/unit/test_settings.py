"""Settings from the environment and `.env`, the original's variable names, and the JWT secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError
from pymongo.uri_parser import parse_uri

from tasktracker.bootstrap import JWT_SECRET_FILE, resolve_jwt_secret
from tasktracker.settings import Settings, SettingsError, load_settings

LEGACY_NAMES = {
    "MONGO_USER",
    "MONGO_PASSWORD",
    "MONGO_CLUSTER",
    "MONGO_DB",
    "MONGO_DB_NAME",
    "SECRET_KEY",
    "ALGORITHM",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "RABBITMQ_HOST",
    "RABBITMQ_PORT",
    "RABBITMQ_USER",
    "RABBITMQ_PASS",
    "MEMCACHED_HOST",
    "MEMCACHED_PORT",
}


def declared_names() -> set[str]:
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        names.add(name.upper())
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif alias is not None:
            names.update(str(choice).upper() for choice in alias.choices)
    return names


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No setting from the developer's shell or a stray `.env` leaks into these tests."""
    names = declared_names() | LEGACY_NAMES
    for key in list(os.environ):
        if key.upper() in names:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


SECRET = "s" * 32


@pytest.fixture
def jwt_secret(monkeypatch):
    """JWT_SECRET set, as real services require."""
    monkeypatch.setenv("JWT_SECRET", SECRET)


def bad_setting(monkeypatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_match_the_documented_table():
    s = load_settings()
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.data_dir == Path("./var")
    assert s.mongo_url is None
    assert s.mongo_db == "tasktracker"
    assert s.amqp_url is None
    assert s.memcached_servers is None
    assert s.smtp_url is None
    assert s.mail_from == "TaskTracker <no-reply@tasktracker.local>"
    assert s.jwt_secret is None
    assert s.access_token_ttl == 900
    assert s.refresh_token_ttl == 1_209_600
    assert s.resolved_log_dir == Path("./var") / "log"
    assert s.log_level == "INFO"
    assert s.log_format == "text"
    assert s.admin_email is None
    assert s.admin_password is None
    assert s.mail_dir == Path("./var") / "mail"


def test_with_nothing_set_everything_runs_embedded():
    s = load_settings()
    assert s.embedded_database
    assert not s.uses_real_services


def test_documented_variables_are_read(monkeypatch, tmp_path):
    env = {
        "HOST": "0.0.0.0",
        "PORT": "9000",
        "DATA_DIR": str(tmp_path / "data"),
        "MONGO_URL": "mongodb://db.internal:27017/?replicaSet=rs0",
        "MONGO_DB": "tt_prod",
        "AMQP_URL": "amqp://guest:guest@mq:5672//",
        "MEMCACHED_SERVERS": "mc1:11211,mc2:11211",
        "SMTP_URL": "smtp://mail:25",
        "MAIL_FROM": "Ops <ops@example.com>",
        "JWT_SECRET": "j" * 40,
        "ACCESS_TOKEN_TTL": "300",
        "REFRESH_TOKEN_TTL": "3600",
        "LOG_DIR": str(tmp_path / "logs"),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "ADMIN_EMAIL": "root@example.com",
        "ADMIN_PASSWORD": "change me now",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.host, s.port) == ("0.0.0.0", 9000)
    assert s.data_dir == tmp_path / "data"
    assert s.mongo_url == env["MONGO_URL"]
    assert s.mongo_db == "tt_prod"
    assert s.amqp_url == env["AMQP_URL"]
    assert s.memcached_servers == env["MEMCACHED_SERVERS"]
    assert s.smtp_url == env["SMTP_URL"]
    assert s.mail_from == env["MAIL_FROM"]
    assert s.jwt_secret == env["JWT_SECRET"]
    assert (s.access_token_ttl, s.refresh_token_ttl) == (300, 3600)
    assert s.resolved_log_dir == tmp_path / "logs"
    assert (s.log_level, s.log_format) == ("WARNING", "json")
    assert (s.admin_email, s.admin_password) == ("root@example.com", "change me now")
    assert not s.embedded_database
    assert s.uses_real_services


def test_log_level_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


def test_an_empty_service_url_means_unset(monkeypatch):
    # `MONGO_URL=` left in a .env must not switch to real services with an empty URL.
    for name in ("MONGO_URL", "AMQP_URL", "MEMCACHED_SERVERS", "SMTP_URL"):
        monkeypatch.setenv(name, "")
    s = load_settings()
    assert s.embedded_database
    assert not s.uses_real_services


def test_settings_are_read_from_dot_env_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text(
        f"PORT=8123\nMONGO_URL=mongodb://from-dotenv:27017/\nJWT_SECRET={SECRET}\n"
    )
    s = load_settings()
    assert s.port == 8123
    assert s.mongo_url == "mongodb://from-dotenv:27017/"


def test_the_environment_wins_over_dot_env(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("PORT=8123\n")
    monkeypatch.setenv("PORT", "8124")
    assert load_settings().port == 8124


def test_keyword_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "8124")
    assert load_settings(port=8125).port == 8125


# --- the original project's variable names -----------------------------------------------------


def test_original_mongo_variables_build_a_mongo_url(monkeypatch, jwt_secret):
    monkeypatch.setenv("MONGO_USER", "app@team")
    monkeypatch.setenv("MONGO_PASSWORD", "p@ss:w/rd%")
    monkeypatch.setenv("MONGO_CLUSTER", "db.example.com:27017")
    s = load_settings()
    assert not s.embedded_database
    parsed = parse_uri(s.mongo_url)  # no network for a mongodb:// URL
    assert parsed["nodelist"] == [("db.example.com", 27017)]
    assert parsed["username"] == "app@team"
    assert parsed["password"] == "p@ss:w/rd%"


def test_an_atlas_cluster_name_becomes_an_srv_url(monkeypatch, jwt_secret):
    monkeypatch.setenv("MONGO_USER", "app")
    monkeypatch.setenv("MONGO_PASSWORD", "secret")
    monkeypatch.setenv("MONGO_CLUSTER", "cluster0.abcde.mongodb.net")
    url = urlsplit(load_settings().mongo_url)
    assert url.scheme == "mongodb+srv"
    assert url.hostname == "cluster0.abcde.mongodb.net"
    assert (url.username, url.password) == ("app", "secret")


def test_original_mongo_db_name_is_accepted(monkeypatch):
    monkeypatch.setenv("MONGO_DB_NAME", "legacy_db")
    assert load_settings().mongo_db == "legacy_db"
    monkeypatch.setenv("MONGO_DB", "new_db")
    assert load_settings().mongo_db == "new_db"


def test_original_jwt_variables_are_accepted(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("ALGORITHM", "HS512")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    s = load_settings()
    assert s.jwt_secret == "k" * 40
    assert s.jwt_algorithm == "HS512"
    assert s.access_token_ttl == 30 * 60


def test_original_rabbitmq_variables_build_an_amqp_url(monkeypatch, jwt_secret):
    monkeypatch.setenv("RABBITMQ_HOST", "mq.internal")
    monkeypatch.setenv("RABBITMQ_PORT", "5673")
    monkeypatch.setenv("RABBITMQ_USER", "tt")
    monkeypatch.setenv("RABBITMQ_PASS", "s3cr@t/")
    s = load_settings()
    url = urlsplit(s.amqp_url)
    assert url.scheme == "amqp"
    assert (url.hostname, url.port) == ("mq.internal", 5673)
    assert (unquote(url.username), unquote(url.password)) == ("tt", "s3cr@t/")
    assert s.uses_real_services


def test_original_rabbitmq_host_alone_uses_the_default_port_and_guest(monkeypatch, jwt_secret):
    monkeypatch.setenv("RABBITMQ_HOST", "mq")
    url = urlsplit(load_settings().amqp_url)
    assert (url.hostname, url.port) == ("mq", 5672)
    assert (url.username, url.password) == ("guest", "guest")


def test_original_memcached_variables_build_a_server_list(monkeypatch, jwt_secret):
    monkeypatch.setenv("MEMCACHED_HOST", "cache")
    assert load_settings().memcached_servers == "cache:11211"
    monkeypatch.setenv("MEMCACHED_PORT", "11311")
    assert load_settings().memcached_servers == "cache:11311"


def test_an_original_dot_env_keeps_working(tmp_path):
    (tmp_path / ".env").write_text(
        "MONGO_USER=app\n"
        "MONGO_PASSWORD=secret\n"
        "MONGO_CLUSTER=db.example.com:27017\n"
        "MONGO_DB=legacy_db\n"
        "SECRET_KEY=" + "k" * 40 + "\n"
        "ALGORITHM=HS384\n"
        "ACCESS_TOKEN_EXPIRE_MINUTES=45\n"
        "RABBITMQ_HOST=mq\n"
        "RABBITMQ_PORT=5673\n"
        "RABBITMQ_USER=tt\n"
        "RABBITMQ_PASS=pw\n"
        "MEMCACHED_HOST=cache\n"
        "MEMCACHED_PORT=11311\n"
    )
    s = load_settings()
    assert parse_uri(s.mongo_url)["nodelist"] == [("db.example.com", 27017)]
    assert parse_uri(s.mongo_url)["username"] == "app"
    assert s.mongo_db == "legacy_db"
    assert s.jwt_secret == "k" * 40
    assert s.jwt_algorithm == "HS384"
    assert s.access_token_ttl == 45 * 60
    assert s.amqp_url == "amqp://tt:pw@mq:5673//"
    assert s.memcached_servers == "cache:11311"


def test_the_documented_names_win_over_the_original_ones(monkeypatch):
    monkeypatch.setenv("MONGO_CLUSTER", "legacy:27017")
    monkeypatch.setenv("MONGO_URL", "mongodb://new:27017/")
    monkeypatch.setenv("RABBITMQ_HOST", "legacy-mq")
    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@new-mq:5672//")
    monkeypatch.setenv("MEMCACHED_HOST", "legacy-cache")
    monkeypatch.setenv("MEMCACHED_SERVERS", "new-cache:11211")
    monkeypatch.setenv("SECRET_KEY", "o" * 40)
    monkeypatch.setenv("JWT_SECRET", "n" * 40)
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    monkeypatch.setenv("ACCESS_TOKEN_TTL", "120")
    s = load_settings()
    assert s.mongo_url == "mongodb://new:27017/"
    assert s.amqp_url == "amqp://guest:guest@new-mq:5672//"
    assert s.memcached_servers == "new-cache:11211"
    assert s.jwt_secret == "n" * 40
    assert s.access_token_ttl == 120


def test_keyword_overrides_win_over_the_original_names(monkeypatch, jwt_secret):
    # Tests and tools pass settings explicitly; an old variable in the shell must not win.
    monkeypatch.setenv("MONGO_CLUSTER", "legacy:27017")
    monkeypatch.setenv("RABBITMQ_HOST", "legacy-mq")
    monkeypatch.setenv("MEMCACHED_HOST", "legacy-cache")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    s = load_settings(
        mongo_url="mongodb://explicit:27017/",
        amqp_url="amqp://guest:guest@explicit:5672//",
        memcached_servers="explicit:11211",
        access_token_ttl=60,
    )
    assert s.mongo_url == "mongodb://explicit:27017/"
    assert s.amqp_url == "amqp://guest:guest@explicit:5672//"
    assert s.memcached_servers == "explicit:11211"
    assert s.access_token_ttl == 60


def test_settings_refuse_assignment_after_start_up():
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.public_url = "http://elsewhere"
    assert s.public_url is None
    variant = s.model_copy(update={"public_url": "http://elsewhere"})
    assert (variant.public_url, s.public_url) == ("http://elsewhere", None)


# --- bad values stop start-up with a message naming the variable -------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("MONGO_URL", "http://x"),
        ("MONGO_URL", "localhost:27017"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("ACCESS_TOKEN_TTL", "0"),
        ("ACCESS_TOKEN_TTL", "soon"),
        ("REFRESH_TOKEN_TTL", "-5"),
        ("MONGO_DB", ""),
        ("JWT_ALGORITHM", "none"),
    ],
)
def test_a_bad_value_raises_an_error_naming_the_variable(monkeypatch, name, value):
    assert name in bad_setting(monkeypatch, name, value)


def test_a_bad_original_algorithm_is_reported_as_the_algorithm_setting(monkeypatch):
    assert "ALGORITHM" in bad_setting(monkeypatch, "ALGORITHM", "RS256")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "thirty"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
        ("RABBITMQ_PORT", "abc"),
        ("MEMCACHED_PORT", "abc"),
    ],
)
def test_a_bad_original_value_is_not_silently_ignored(monkeypatch, name, value):
    monkeypatch.setenv("RABBITMQ_HOST", "mq")
    monkeypatch.setenv("MEMCACHED_HOST", "cache")
    assert name in bad_setting(monkeypatch, name, value)


def test_the_error_is_one_line_and_does_not_echo_the_value(monkeypatch):
    # A mistyped line may hold a secret; the start-up error names the variable, not its value.
    message = bad_setting(monkeypatch, "PORT", "hunter2\nsecret")
    assert "\n" not in message
    assert "hunter2" not in message


def test_a_bad_keyword_override_names_the_variable():
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(port="abc")


# --- the JWT secret ----------------------------------------------------------------------------


@pytest.fixture
def permissive_umask():
    """umask 0: the secret file must be private because the code says so, not by luck."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_jwt_secret_is_required_with_a_real_database(tmp_path):
    with pytest.raises(SettingsError, match="JWT_SECRET: required when MONGO_URL"):
        load_settings(mongo_url="mongodb://db:27017/", data_dir=tmp_path)
    assert not (tmp_path / JWT_SECRET_FILE).exists()


@pytest.mark.parametrize(
    "service",
    [
        {"AMQP_URL": "amqp://guest:guest@mq:5672//"},
        {"MEMCACHED_SERVERS": "cache:11211"},
        {"SMTP_URL": "smtp://mail:25"},
    ],
)
def test_jwt_secret_is_required_with_any_real_service(monkeypatch, service):
    [(name, value)] = service.items()
    monkeypatch.setenv(name, value)
    message = bad_setting(monkeypatch, "JWT_SECRET", "")  # blank: unset
    assert message.startswith("invalid setting JWT_SECRET: required when MONGO_URL")


def test_jwt_secret_required_when_a_real_service_comes_from_original_names(monkeypatch):
    monkeypatch.setenv("MONGO_CLUSTER", "db:27017")
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


def test_a_secret_under_the_original_name_satisfies_the_rule(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://db/")
    monkeypatch.setenv("SECRET_KEY", SECRET)
    assert load_settings().jwt_secret == SECRET


@pytest.mark.parametrize("services", [{"mongo_url": "mongodb://db/"}, {}])
def test_a_jwt_secret_needs_32_characters_with_or_without_real_services(services):
    assert load_settings(jwt_secret="x" * 32, **services).jwt_secret == "x" * 32
    with pytest.raises(SettingsError, match=r"^invalid setting JWT_SECRET: .*at least 32 char"):
        load_settings(jwt_secret="x" * 31, **services)


def test_a_short_original_secret_key_is_rejected(monkeypatch):
    assert "JWT_SECRET" in bad_setting(monkeypatch, "SECRET_KEY", "short")


def test_a_configured_jwt_secret_is_used_as_is(tmp_path):
    secret = "s" * 32
    settings = load_settings(mongo_url="mongodb://db/", jwt_secret=secret, data_dir=tmp_path)
    assert resolve_jwt_secret(settings) == secret
    assert not (tmp_path / JWT_SECRET_FILE).exists()


def test_embedded_mode_generates_a_secret_once_and_keeps_it(tmp_path, permissive_umask):
    data_dir = tmp_path / "fresh" / "var"
    settings = load_settings(data_dir=data_dir)
    first = resolve_jwt_secret(settings)
    assert len(first) >= 32

    path = data_dir / JWT_SECRET_FILE
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A restart (new Settings, same DATA_DIR) keeps the tokens valid.
    assert resolve_jwt_secret(load_settings(data_dir=data_dir)) == first


def test_each_data_dir_gets_its_own_generated_secret(tmp_path):
    one = resolve_jwt_secret(load_settings(data_dir=tmp_path / "one"))
    two = resolve_jwt_secret(load_settings(data_dir=tmp_path / "two"))
    assert one != two


# --- serving and the local stack ---------------------------------------------------------------


def test_serving_defaults_one_worker_eight_threads_no_proxy_no_instance_name():
    s = load_settings()
    assert (s.api_workers, s.api_threads) == (1, 8)
    assert s.trusted_proxies == 0
    assert s.instance_name is None
    assert s.agent_metrics_port == 0


def test_serving_variables_are_read(monkeypatch, jwt_secret):
    for name, value in {
        "MONGO_URL": "mongodb://db/",
        "API_WORKERS": "4",
        "API_THREADS": "16",
        "TRUSTED_PROXIES": "1",
        "INSTANCE_NAME": "api-2",
        "AGENT_METRICS_PORT": "9101",
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.api_workers, s.api_threads, s.trusted_proxies) == (4, 16, 1)
    assert (s.instance_name, s.agent_metrics_port) == ("api-2", 9101)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_WORKERS", "0"),
        ("API_THREADS", "many"),
        ("TRUSTED_PROXIES", "-1"),
        ("INSTANCE_NAME", "api 1\r\nX-Evil: 1"),
        ("AGENT_METRICS_PORT", "70000"),
    ],
)
def test_bad_serving_values_name_the_variable(monkeypatch, name, value):
    assert name in bad_setting(monkeypatch, name, value)


def test_several_api_workers_need_a_shared_database(monkeypatch):
    message = bad_setting(monkeypatch, "API_WORKERS", "2")
    assert message == (
        "invalid setting API_WORKERS: several workers need a shared MongoDB (set MONGO_URL)"
    )
    monkeypatch.setenv("MONGO_URL", "mongodb://db/")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    assert load_settings().api_workers == 2


def test_one_api_worker_needs_no_shared_database(monkeypatch):
    monkeypatch.setenv("API_WORKERS", "1")
    assert load_settings().embedded_database


def test_tasktracker_api_refuses_several_workers_on_the_embedded_database(monkeypatch, capsys):
    from tasktracker.cli import main

    monkeypatch.setenv("API_WORKERS", "2")
    assert main(["api"]) == 2
    assert "API_WORKERS" in capsys.readouterr().err


def test_stack_defaults(tmp_path):
    from tasktracker.deploy.stack import StackOptions

    s = load_settings()
    assert (s.stack_dir, s.stack_port, s.stack_replicas, s.stack_api_port) == (
        Path("./var/stack"),
        8080,
        2,
        8001,
    )
    options = StackOptions.from_env({})
    assert options.state_dir == tmp_path / "var" / "stack"
    assert (options.port, options.replicas, options.api_port) == (8080, 2, 8001)
    assert options.agent_metrics_port == 9101  # the stack's default, not the app's 0
    assert options.replica_names() == ["api-1", "api-2"]
    assert options.replica_port("api-2") == 8002
    assert options.url == "http://127.0.0.1:8080"


def test_stack_variables_are_read(monkeypatch, tmp_path):
    from tasktracker.deploy.stack import StackOptions

    env = {
        "STACK_DIR": str(tmp_path / "s"),
        "STACK_PORT": "9090",
        "STACK_REPLICAS": "16",
        "STACK_API_PORT": "9100",
        "AGENT_METRICS_PORT": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.stack_dir, s.stack_port, s.stack_replicas, s.stack_api_port) == (
        tmp_path / "s",
        9090,
        16,
        9100,
    )
    options = StackOptions.from_settings(s, env)
    assert (options.state_dir, options.port, options.replicas) == (tmp_path / "s", 9090, 16)
    assert (options.api_port, options.agent_metrics_port) == (9100, 0)
    assert options.env == env


def test_a_blank_stack_variable_means_its_default(monkeypatch):
    for name in ("STACK_DIR", "STACK_PORT", "STACK_REPLICAS", "STACK_API_PORT"):
        monkeypatch.setenv(name, "")
    s = load_settings()
    assert (s.stack_dir, s.stack_port, s.stack_replicas, s.stack_api_port) == (
        Path("./var/stack"),
        8080,
        2,
        8001,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STACK_PORT", "0"),
        ("STACK_PORT", "65536"),
        ("STACK_REPLICAS", "two"),
        ("STACK_REPLICAS", "0"),
        ("STACK_REPLICAS", "17"),
        ("STACK_API_PORT", "x"),
        ("STACK_API_PORT", "0"),
    ],
)
def test_bad_stack_values_name_the_variable(monkeypatch, name, value):
    from tasktracker.deploy.stack import StackOptions

    assert bad_setting(monkeypatch, name, value).startswith(f"invalid setting {name}:")
    with pytest.raises(SettingsError, match=f"^invalid setting {name}:"):
        StackOptions.from_env({name: value})


def test_the_stack_supplies_a_database_and_a_secret_when_unset():
    """It starts a MongoDB server and generates JWT_SECRET for its processes, so settings that
    rely on those are fine for `tasktracker stack`; other bad settings are not."""
    from tasktracker.deploy.stack import StackOptions

    options = StackOptions.from_env({"API_WORKERS": "2", "AMQP_URL": "amqp://mq//"})
    assert options.env == {"API_WORKERS": "2", "AMQP_URL": "amqp://mq//"}
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        StackOptions.from_env({"JWT_SECRET": "short"})
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        StackOptions.from_env({"LOG_LEVEL": "LOUD"})
