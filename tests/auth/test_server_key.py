"""The server key seals every stored secret (access keys, token signing keys). Started with a key
that opens none of them, `berth serve` and every administration command refuse, saying what is
wrong and what to do, before writing anything: no signing key sealed under the wrong key, no
/readyz 200 over a registry that would answer 401 to every valid credential. The right key
then starts the registry as it was, even one where an older version already wrote a signing key
under a wrong key."""
import base64
import os
import sqlite3
import subprocess
import time
import urllib.request

import authhelp as ah
from berth_server import BerthServer, berth_bin, deployment, free_port

# The identity tables, and what a start or an administration command could write there.
TABLES = {
    "principals": "name, id, kind, disabled, created_at",
    "access_keys": "id, principal, secret, disabled, created_at",
    "identity_policies": "principal, name, document",
    "signing_keys": "kid, secret, created_at",
    "refresh_tokens": "hash, principal, revoked",
    "auth_settings": "name, value",
    "auth_generation": "n",
    "auth_unblocks": "id, kind, target",
}


def new_key():
    return base64.b64encode(os.urandom(32)).decode()


def query(srv, sql):
    """Rows of `sql` (one string per row) from the server's metadata database."""
    if deployment() == "production":
        from services import Postgres
        sql = sql.replace("hex(secret)", "encode(secret, 'hex')")
        out = Postgres.psql(srv.config_env["BERTH_METADATA__URL"], sql)
        return [line for line in out.splitlines() if line]
    db = sqlite3.connect(os.path.join(srv.data_dir, "metadata.db"))
    try:
        return ["|".join(str(v) for v in row) for row in db.execute(sql)]
    finally:
        db.close()


def dump(srv):
    """Every identity row: what must not change."""
    return {t: sorted(query(srv, f"SELECT {cols.replace('secret', 'hex(secret)')} FROM {t}"))
            for t, cols in TABLES.items()}


def execute(srv, sql):
    if deployment() == "production":
        from services import Postgres
        Postgres.psql(srv.config_env["BERTH_METADATA__URL"], sql)
        return
    db = sqlite3.connect(os.path.join(srv.data_dir, "metadata.db"))
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def files(srv):
    """The data directory's files and their contents (the key file included), but for the
    server log."""
    out = {}
    for root, _, names in os.walk(srv.data_dir):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, srv.data_dir)
            if rel in ("server.log", "metadata.db", "metadata.db-wal", "metadata.db-shm"):
                continue
            with open(p, "rb") as f:
                out[rel] = f.read()
    return out


def refused_start(srv, env):
    """Run `berth serve` on the server's data with `env`: it must exit non-zero within 20 s,
    /readyz never answering 200 meanwhile. Returns its output."""
    port = free_port()
    proc = subprocess.Popen([berth_bin(), "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", srv.data_dir],
                            env=dict(os.environ, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    try:
        while proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    assert r.status != 200, "/readyz answered 200 under the wrong server key"
            except OSError:
                pass
            assert time.monotonic() < deadline, "berth serve kept running under the wrong server key"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    assert proc.returncode != 0, (proc.returncode, out, err)
    return out, err


def assert_explains_wrong_key(out, err, *secrets):
    assert "wrong server key" in err, err
    assert "BERTH_AUTH__SERVER_KEY" in err and "Nothing was changed" in err, err
    for s in secrets:
        assert s not in out and s not in err


def run_cli(srv, env, *args):
    return subprocess.run([berth_bin(), *args], env=dict(os.environ, **env, BERTH_DATA_DIR=srv.data_dir),
                          capture_output=True, text=True, timeout=60)


def works(srv, key, repo, img):
    ah.pull_image(ah.Client(srv.url, ah.basic(*key)), repo, "latest", img)
    ah.token_for(srv.url, ah.basic(*key), [f"repository:{repo}:pull"])


def test_a_wrong_server_key_refuses_to_start_and_changes_nothing(new_server):
    k1, k2 = new_key(), new_key()
    srv = new_server({"BERTH_AUTH__SERVER_KEY": k1})
    repo = ah.unique("sealed") + "/app"
    img = ah.push_image(ah.Client(srv.url, ah.basic(*srv.admin)), repo)
    works(srv, srv.admin, repo, img)
    srv.stop()
    before, before_files = dump(srv), files(srv)
    assert before["access_keys"] and before["signing_keys"]

    wrong = dict(srv.config_env, BERTH_AUTH__SERVER_KEY=k2)
    out, err = refused_start(srv, wrong)
    assert_explains_wrong_key(out, err, k1, k2, srv.admin[1])
    assert "does not open the access key stored in the database" in err, err
    # Administration commands refuse the same way, writing nothing either.
    for args in (("key", "create", "admin"), ("principal", "create", ah.unique("p"), "--with-key"),
                 ("key", "login-password", srv.admin[0])):
        r = run_cli(srv, wrong, *args)
        assert r.returncode != 0, (args, r.stdout)
        assert_explains_wrong_key(r.stdout, r.stderr, k1, k2, srv.admin[1])
    assert dump(srv) == before
    assert files(srv) == before_files

    # The right key: the registry as it was.
    srv.start()
    works(srv, srv.admin, repo, img)


def test_the_right_key_starts_despite_a_signing_key_sealed_under_another(new_server):
    """Older versions, started with a wrong key, wrote a new token signing key sealed under
    it. With the right key, such a registry starts and works (that key is unusable and ages
    out); with the wrong one it is still refused."""
    k1 = new_key()
    srv = new_server({"BERTH_AUTH__SERVER_KEY": k1})
    repo = ah.unique("oldbug") + "/app"
    img = ah.push_image(ah.Client(srv.url, ah.basic(*srv.admin)), repo)
    srv.stop()
    # The newest signing key, sealed under something else (12-byte nonce, ciphertext, tag).
    garbage = os.urandom(60).hex()
    now_ms = int(time.time() * 1000)
    if deployment() == "production":
        execute(srv, "INSERT INTO signing_keys (kid, secret, created_at) "
                     f"VALUES ('old-bug', decode('{garbage}', 'hex'), {now_ms})")
    else:
        execute(srv, "INSERT INTO signing_keys (kid, secret, created_at) "
                     f"VALUES ('old-bug', x'{garbage}', {now_ms})")
    before = dump(srv)

    out, err = refused_start(srv, dict(srv.config_env, BERTH_AUTH__SERVER_KEY=new_key()))
    assert_explains_wrong_key(out, err, k1)
    assert dump(srv) == before

    srv.start()
    works(srv, srv.admin, repo, img)
    with open(srv.log_path, "rb") as f:
        assert b"cannot open a token signing key" in f.read()


def test_no_server_key_for_a_registry_that_has_secrets(new_server):
    """Embedded: a data directory whose server.key is gone does not get a new key (which
    would open nothing); the start is refused and the file is not created. Production: a
    replica without auth.server_key is refused before it touches anything."""
    if deployment() == "production":
        srv = new_server()
        srv.stop()
        before = dump(srv)
        env = {k: v for k, v in srv.config_env.items() if k != "BERTH_AUTH__SERVER_KEY"}
        out, err = refused_start(srv, env)
        assert "server_key" in err, err
        assert dump(srv) == before
        return
    srv = new_server()
    repo = ah.unique("nokey") + "/app"
    img = ah.push_image(ah.Client(srv.url, ah.basic(*srv.admin)), repo)
    srv.stop()
    key_path = os.path.join(srv.data_dir, "server.key")
    saved = key_path + ".saved"
    os.rename(key_path, saved)
    before = dump(srv)

    out, err = refused_start(srv, srv.config_env)
    assert "missing server key" in err and "server.key" in err, err
    assert "Nothing was changed" in err, err
    assert not os.path.exists(key_path)
    r = run_cli(srv, srv.config_env, "key", "create", "admin")
    assert r.returncode != 0 and "missing server key" in r.stderr, r
    assert not os.path.exists(key_path)
    assert dump(srv) == before

    os.rename(saved, key_path)
    srv.start()
    works(srv, srv.admin, repo, img)
