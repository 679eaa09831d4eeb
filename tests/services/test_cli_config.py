"""The `berth` command line and its configuration, run as the real binary: every command's
configuration options and errors that name what is wrong (the database path, the setting and
its value), the first administrator's credentials across failed and later starts, and help
that documents every command and argument.

Embedded deployment only (SQLite + files): the behaviour tested here is the command line's.
"""
import os
import re
import socket
import subprocess

import pytest
import requests

from berth_server import BerthServer, berth_bin, read_admin_credentials
from testkit import wait_until

# Tooling variables that are not settings: kept in the environment of every command run
# here, as CI has them, so that the tests also show they are never reported as unknown.
TOOLING = ("BERTH_BIN", "BERTH_TEST_", "BERTH_PG_", "BERTH_E2E_", "BERTH_S3_")


def clean_env(**extra):
    """The test process's environment without Berth settings (CI may set a deployment's)."""
    env = {k: v for k, v in os.environ.items()
           if k != "RUST_LOG" and k != "BERTH_CONFIG"
           and (not k.startswith("BERTH_") or k.startswith(TOOLING))}
    env.update(extra)
    return env


def berth(*args, env=None, cwd=None, timeout=60):
    return subprocess.run([berth_bin(), *args], env=clean_env(**(env or {})), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def assert_config_error(r, message):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"berth: configuration error: {message}"), r.stderr
    for internal in ("default.", "``", "Kind::", "environment variable(s)"):
        assert internal not in r.stderr, r.stderr


class Server(BerthServer):
    """A berth server started with exactly the arguments and environment given (the harness's
    own command line sets --listen 127.0.0.1:0)."""

    def __init__(self, *args, data_dir=None, env=None):
        super().__init__(data_dir=data_dir)
        self.args = list(args)
        self.env = clean_env(**(env or {}))

    def command(self):
        return [berth_bin(), "serve", "--data-dir", self.data_dir, *self.args]


@pytest.fixture
def server():
    with Server("--listen", "127.0.0.1:0") as srv:
        yield srv


def admin_names(stdout):
    return [line.split("\t")[0] for line in stdout.splitlines()]


# ---------------------------------------------------------------------------------------------
# Item 8: every command takes the configuration options; errors name the database
# ---------------------------------------------------------------------------------------------


def test_admin_command_elsewhere_names_the_database_path(tmp_path):
    r = berth("principal", "list", cwd=tmp_path)
    assert r.returncode == 1, r
    expected = str(tmp_path / "data" / "metadata.db")
    assert r.stderr.startswith("berth: cannot open the metadata database ./data/metadata.db"), r.stderr
    assert expected in r.stderr and "--data-dir" in r.stderr and "BERTH_DATA_DIR" in r.stderr, r.stderr


@pytest.mark.parametrize("where", ["after", "before", "env", "file"])
def test_admin_commands_find_the_data_dir(server, tmp_path, where):
    args, env = ["principal", "list"], {}
    if where == "after":
        args += ["--data-dir", server.data_dir]
    elif where == "before":
        args = ["principal", "--data-dir", server.data_dir, "list"]
    elif where == "env":
        env = {"BERTH_DATA_DIR": server.data_dir}
    else:
        conf = tmp_path / "berth.toml"
        conf.write_text(f'data_dir = "{server.data_dir}"\n')
        args += ["--config", str(conf)]
    r = berth(*args, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert admin_names(r.stdout) == ["admin"]
    assert r.stderr == ""


def test_every_configured_command_takes_config_and_data_dir(server, tmp_path):
    conf = tmp_path / "berth.toml"
    conf.write_text(f'data_dir = "{server.data_dir}"\n')
    for args in (["migrate"], ["key", "list"], ["policy", "list", "admin"], ["token", "revoke", "admin"],
                 ["registry-policy", "get"], ["repository-policy", "get", "a/b"]):
        by_flag = berth(*args, "--data-dir", server.data_dir, cwd=tmp_path)
        by_file = berth(*args, "--config", str(conf), cwd=tmp_path)
        for r in (by_flag, by_file):
            assert "cannot open the metadata database" not in r.stderr, (args, r.stderr)
            assert not (tmp_path / "data").exists(), args
        assert by_flag.returncode == by_file.returncode, (args, by_flag.stderr, by_file.stderr)
        if args != ["migrate"]:  # its log lines carry timestamps
            assert (by_flag.stdout, by_flag.stderr) == (by_file.stdout, by_file.stderr), args


def test_postgres_errors_never_show_the_password(tmp_path):
    r = berth("principal", "list", cwd=tmp_path, env={
        "BERTH_METADATA__BACKEND": "postgres",
        "BERTH_METADATA__URL": "postgres://berth:hunter2@127.0.0.1:1/berth?sslmode=disable",
        "BERTH_AUTH__SERVER_KEY": "VGhpcyBpcyBub3QgYSByZWFsIGtleSwganVzdCAzMiE=",
    })
    assert r.returncode == 1, r
    assert "cannot open the metadata database at postgres://berth:***@127.0.0.1:1/berth" in r.stderr, r.stderr
    assert "hunter2" not in r.stderr + r.stdout


# ---------------------------------------------------------------------------------------------
# Item 9: the first administrator's credentials
# ---------------------------------------------------------------------------------------------


def test_a_start_that_cannot_listen_creates_no_administrator(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = berth("serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data))
    assert r.returncode == 1, r
    assert r.stderr.startswith(f"berth: cannot listen on 127.0.0.1:{port}: "), r.stderr
    assert "First start" not in r.stdout
    # Nothing was written: no credentials file, no database holding an administrator.
    assert os.listdir(data) == []
    # The next start, on a free port, creates the administrator and shows its key.
    with Server("--listen", "127.0.0.1:0", data_dir=str(data)) as srv:
        key_id, secret = read_admin_credentials(srv.data_dir)
        log = srv.read_log()
        assert 'First start: created the administrator "admin"' in log
        assert key_id in log and secret in log
        assert requests.get(srv.url + "/v2/", auth=(key_id, secret), timeout=5).status_code == 200


def test_later_starts_say_where_the_credentials_are(tmp_path):
    data = str(tmp_path / "data")
    os.mkdir(data)
    path = os.path.join(data, "admin-credentials")
    with Server("--listen", "127.0.0.1:0", data_dir=data) as srv:
        _, secret = srv.admin
    with Server("--listen", "127.0.0.1:0", data_dir=data) as srv:
        log = srv.read_log()
        restart = log[log.rindex("First start"):]
        restart = restart[restart.index("shutting down"):]
        assert f"the first administrator's credentials are in {path}; delete the file once you have stored them" \
            in restart, restart
        assert secret not in restart
        assert "First start" not in restart
    os.remove(path)
    with Server("--listen", "127.0.0.1:0", data_dir=data) as srv:
        log = srv.read_log()
        assert log.count("credentials are in") == 1, log


# ---------------------------------------------------------------------------------------------
# Item 12: configuration values and messages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env", "file"])
def test_listen_accepts_host_names(tmp_path, how):
    args, env = [], {}
    if how == "flag":
        args = ["--listen", "localhost:0"]
    elif how == "env":
        env = {"BERTH_LISTEN": "localhost:0"}
    else:
        conf = tmp_path / "berth.toml"
        conf.write_text('listen = "localhost:0"\n')
        args = ["--config", str(conf)]
    with Server(*args, env=env) as srv:
        # The harness found the port in "berth is serving listen=127.0.0.1:PORT".
        assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("value, message", [
    ("x", 'BERTH_LISTEN: "x" is not a host:port address'),
    ("localhost", 'BERTH_LISTEN: "localhost" is not a host:port address'),
    ("5000", 'BERTH_LISTEN: "5000" is not a host:port address (a port alone: 127.0.0.1:5000'),
    ("localhost:99999", 'BERTH_LISTEN: "localhost:99999": "99999" is not a port number'),
    ("nosuch.invalid:5000", 'BERTH_LISTEN: "nosuch.invalid:5000": cannot resolve nosuch.invalid'),
])
def test_bad_listen_addresses_are_named(tmp_path, value, message):
    assert_config_error(berth("serve", "--data-dir", str(tmp_path), env={"BERTH_LISTEN": value}), message)
    flag = berth("serve", "--data-dir", str(tmp_path), "--listen", value)
    assert_config_error(flag, "--listen: " + message.split(": ", 1)[1])
    assert os.listdir(tmp_path) == []


def test_only_serve_and_healthcheck_resolve_the_listen_address(server, tmp_path):
    """An administration command never listens: a listen host that does not resolve does not
    stop it. `serve` and `healthcheck` still report it, naming where it was given."""
    env = {"BERTH_LISTEN": "nosuch.invalid:5000"}
    r = berth("principal", "list", "--data-dir", server.data_dir, env=env)
    assert r.returncode == 0, r.stderr
    assert admin_names(r.stdout) == ["admin"]
    assert r.stderr == ""
    conf = tmp_path / "berth.toml"
    conf.write_text('listen = "nosuch.invalid:5000"\n')
    r = berth("key", "list", "--config", str(conf), "--data-dir", server.data_dir)
    assert r.returncode == 0, r.stderr
    data = tmp_path / "data"
    data.mkdir()
    r = berth("serve", "--config", str(conf), "--data-dir", str(data))
    assert_config_error(r, f'{conf}: listen: "nosuch.invalid:5000": cannot resolve nosuch.invalid')
    assert os.listdir(data) == []
    assert_config_error(berth("healthcheck", env=env),
                        'BERTH_LISTEN: "nosuch.invalid:5000": cannot resolve nosuch.invalid')


@pytest.mark.parametrize("value, enabled", [
    ("False", False), ("0", False), ("no", False), ("OFF", False),
    ("True", True), ("1", True), ("yes", True), ("on", True),
])
def test_boolean_spellings(value, enabled):
    with Server("--listen", "127.0.0.1:0", env={"BERTH_AUTH__ENABLED": value}) as srv:
        r = requests.get(srv.url + "/v2/", timeout=5)
        assert r.status_code == (401 if enabled else 200), value


def test_not_a_boolean_is_refused(tmp_path):
    r = berth("serve", "--data-dir", str(tmp_path), env={"BERTH_AUTH__ENABLED": "maybe"})
    assert_config_error(r, 'BERTH_AUTH__ENABLED: "maybe" is not a boolean (use true or false')


def test_misspelt_variables_are_reported(server):
    env = {"BERTH_STORAGE_BACKEND": "fs", "BERTH_LISTN": "x", "BERTH_TEST_SOMETHING": "1", "BERTH_PG_PORT": "1"}
    r = berth("principal", "list", "--data-dir", server.data_dir, env=env)
    assert r.returncode == 0, r.stderr
    assert admin_names(r.stdout) == ["admin"]
    assert sorted(r.stderr.splitlines()) == [
        "berth: warning: BERTH_LISTN is not a setting and is ignored; did you mean BERTH_LISTEN?",
        "berth: warning: BERTH_STORAGE_BACKEND is not a setting and is ignored; "
        "did you mean BERTH_STORAGE__BACKEND?",
    ], r.stderr
    # A server logs the same warnings.
    with Server("--listen", "127.0.0.1:0", env={"BERTH_STORAGE_BACKEND": "s3"}) as srv:
        assert re.search(r"WARN .*BERTH_STORAGE_BACKEND is not a setting and is ignored; "
                         r"did you mean BERTH_STORAGE__BACKEND\?", srv.read_log()), srv.read_log()
    # An unknown key of a known section is an error, as in the file.
    r = berth("principal", "list", "--data-dir", server.data_dir, env={"BERTH_STORAGE__BAKEND": "s3"})
    assert_config_error(r, "BERTH_STORAGE__BAKEND: no such setting; did you mean BERTH_STORAGE__BACKEND?")


@pytest.mark.parametrize("var", ["BERTH_LOG__FILTER", "RUST_LOG"])
def test_a_filter_that_would_silence_the_log_is_refused(tmp_path, var):
    r = berth("serve", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0", env={var: "verbose"})
    assert_config_error(r, f'{var}: "verbose" is not a log level')
    assert "use a level such as info or debug, or directives like berth=debug" in r.stderr
    r = berth("serve", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0", env={var: "berth=[{"})
    assert_config_error(r, f'{var}: "berth=[{{" is not a log filter')


def test_valid_filters_log(tmp_path):
    with Server("--listen", "127.0.0.1:0", env={"BERTH_LOG__FILTER": "warn,berth=info"}) as srv:
        assert "berth is serving" in srv.read_log()


def test_file_errors_name_the_file_and_key(tmp_path):
    conf = tmp_path / "berth.toml"
    conf.write_text('listen = "x"\n')
    r = berth("key", "list", "--config", str(conf))
    assert_config_error(r, f'{conf}: listen: "x" is not a host:port address')
    conf.write_text('[metadata]\nbackend = "mysql"\n')
    r = berth("key", "list", "--config", str(conf))
    assert_config_error(r, f'{conf}: metadata.backend: "mysql" is not one of sqlite, postgres')
    conf.write_text('lisen = "127.0.0.1:5000"\n')
    r = berth("key", "list", "--config", str(conf))
    assert_config_error(r, f"{conf}: lisen: no such setting")


def test_healthcheck_uses_the_configured_address(tmp_path):
    with Server("--listen", "127.0.0.1:0") as srv:
        port = srv.port
        for env, args in [({"BERTH_LISTEN": f"127.0.0.1:{port}"}, []),
                          ({"BERTH_LISTEN": f"0.0.0.0:{port}"}, []),
                          ({}, ["--listen", f"localhost:{port}"]),
                          ({}, ["--url", f"http://127.0.0.1:{port}/readyz"])]:
            r = berth("healthcheck", *args, env=env)
            assert r.returncode == 0, (env, args, r.stderr)
        conf = tmp_path / "berth.toml"
        conf.write_text(f'listen = "0.0.0.0:{port}"\n')
        assert berth("healthcheck", "--config", str(conf)).returncode == 0
    # The server is gone: the failure names the URL and the reason.
    wait_until(lambda: berth("healthcheck", env={"BERTH_LISTEN": f"127.0.0.1:{port}"}).returncode != 0,
               10, "the stopped server's port to refuse")
    r = berth("healthcheck", env={"BERTH_LISTEN": f"0.0.0.0:{port}"})
    assert r.returncode == 1
    assert r.stderr.startswith(f"berth: healthcheck of http://127.0.0.1:{port}/readyz failed: "), r.stderr
    assert "refused" in r.stderr.lower(), r.stderr


# ---------------------------------------------------------------------------------------------
# Item 13: help
# ---------------------------------------------------------------------------------------------

SECTIONS = ("Commands:", "Arguments:", "Options:")


def help_entries(text):
    """{section: [(entry, description)]} from clap's short help (`-h`)."""
    entries, section, last = {}, None, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = line if line in SECTIONS else None
            last = None
            continue
        if section is None:
            continue
        if re.match(r"^ {2}\S", line) or re.match(r"^ {6}--", line):
            name, _, desc = line.strip().partition("  ")
            last = [name.strip(), desc.strip()]
            entries.setdefault(section, []).append(last)
        elif last is not None:
            # A description on the next line(s), deeper indented.
            last[1] = (last[1] + " " + line.strip()).strip()
    return entries


def walk_help(path=()):
    r = berth(*path, "-h")
    assert r.returncode == 0, (path, r.stderr)
    yield path, r.stdout
    for name, _ in help_entries(r.stdout).get("Commands:", []):
        if name != "help":
            yield from walk_help(path + (name,))


def test_every_command_and_argument_is_described():
    seen = {}
    for path, text in walk_help():
        seen[path] = help_entries(text)
        about = text.split("\n\n", 1)[0].strip()
        assert about and not about.startswith("Usage:"), f"berth {' '.join(path)} has no description"
        for section, entries in seen[path].items():
            for name, desc in entries:
                assert desc, f"berth {' '.join(path)}: {section} {name} has no description"
    commands = {" ".join(p) for p in seen}
    for c in ("principal list", "principal enable", "key list", "key disable", "key enable", "key delete",
              "policy detach", "repository-policy get", "repository-policy delete", "registry-policy get",
              "registry-policy delete", "token revoke"):
        assert c in commands, sorted(commands)
    assert len(commands) > 30


def options(*path):
    return {name.split()[-2] if name.split()[-1].startswith("<") else name.split()[-1]
            for name, _ in help_entries(berth(*path, "-h").stdout).get("Options:", [])}


def test_options_are_offered_where_they_mean_something():
    assert options("generate-key") == {"--help"}
    assert options("serve") == {"--config", "--data-dir", "--listen", "--help"}
    assert options("healthcheck") == {"--config", "--listen", "--url", "--help"}
    assert options("migrate") == {"--config", "--data-dir", "--help"}
    for path in (("principal", "list"), ("key", "create"), ("policy", "attach"), ("registry-policy", "get"),
                 ("repository-policy", "set"), ("token", "revoke")):
        opts = options(*path)
        assert {"--config", "--data-dir"} <= opts and "--listen" not in opts, (path, opts)
    # An option a command does not have is refused, not ignored.
    r = berth("generate-key", "--config", "x.toml")
    assert r.returncode == 2 and "unexpected argument '--config'" in r.stderr, r.stderr
