"""Principals made through the `berth` CLI, the way an operator makes them: one way for every
suite to create a principal, attach its policies and give it an access key."""
import re
import uuid

from testkit import basic, eventually, user_arn
from v2client import Client


def parse_key(stdout):
    """(access key id, secret access key) from what `berth key create` (or `principal create
    --with-key`) prints."""
    fields = dict(re.findall(r"^(access_key_id|secret_access_key) = (\S+)$", stdout, re.M))
    assert set(fields) == {"access_key_id", "secret_access_key"}, stdout
    return fields["access_key_id"], fields["secret_access_key"]


class Principal:
    """A principal of `server` with one access key."""

    def __init__(self, server, name, key_id, secret):
        self.server, self.name, self.key_id, self.secret = server, name, key_id, secret

    @property
    def key(self):
        """(access key id, secret access key), as boto3 and SigV4 signing take it."""
        return self.key_id, self.secret

    @property
    def arn(self):
        return user_arn(self.name)

    @property
    def basic(self):
        """Basic credentials (a requests auth object)."""
        return basic(self.key_id, self.secret)

    def client(self, **kw):
        """A /v2 client with this principal's Basic credentials."""
        return Client(self.server.url, self.basic, **kw)

    def new_key(self):
        return parse_key(self.server.cli("key", "create", self.name).stdout)


def attach(server, principal, name, document):
    server.cli("policy", "attach", principal, name, "-", input=document)


def wait_key_works(server, key_id, secret):
    """Wait until the server accepts the key (identity changes reach every server within about
    a second): `GET /v2/` with it answers 200."""
    def check():
        r = Client(server.url, basic(key_id, secret)).get("/v2/")
        assert r.status_code == 200, f"{r.status_code} {r.text}"
    eventually(check)


def create_principal(server, policies=(), robot=False, name=None, wait=True, cls=Principal):
    """A principal with `policies` ([(name, document)]) and one access key. The policies are
    attached before the key is created, so once the server knows the key it knows them too;
    with `wait`, this returns only when the server accepts the key."""
    name = name or f"p-{uuid.uuid4().hex[:10]}"
    server.cli("principal", "create", name, *(["--robot"] if robot else []))
    for pname, doc in policies:
        attach(server, name, pname, doc)
    key_id, secret = parse_key(server.cli("key", "create", name).stdout)
    if wait:
        wait_key_works(server, key_id, secret)
    return cls(server, name, key_id, secret)
