"""Self-tests of tests/harness/services.py: the real PostgreSQL and Garage the Berth tests run against.

Needs: root (or passwordless sudo) for PostgreSQL, boto3 for the S3 checks, and the Garage binary
(built on first use by scripts/garage.sh, ~25 minutes).
"""
import os
import uuid

import pytest

from services import Garage, Postgres

# Stopping and restarting PostgreSQL happens on a cluster of its own, never the shared one.
FAULTS = Postgres.cluster("berth-faults")

import boto3  # noqa: E402  (installed by scripts/install-deps.sh)
from botocore.config import Config  # noqa: E402


def s3_client(deployment, endpoint=None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint or deployment.endpoint,
        region_name=deployment.region,
        aws_access_key_id=deployment.access_key_id,
        aws_secret_access_key=deployment.secret_access_key,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            # boto3 >= 1.36 adds CRC checksums by default; only send them when the API requires it
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def put_get(deployment, endpoint=None, size=3 * 1024 * 1024 + 17):
    """Put an object (several Garage blocks) and read it back, through `endpoint`."""
    s3 = s3_client(deployment, endpoint)
    key = f"selftest/{uuid.uuid4()}"
    body = os.urandom(size)
    try:
        s3.put_object(Bucket=deployment.bucket, Key=key, Body=body)
        got = s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    finally:
        s3.close()  # no idle keep-alive connection to delay Garage's shutdown
    assert got == body
    return key, body


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def test_postgres_fresh_database_connects():
    url = Postgres.fresh_database_url()
    assert url.startswith("postgres://berth:") and "@127.0.0.1:" in url
    db = url.rsplit("/", 1)[1]
    assert db.startswith("berth_")
    assert Postgres.psql(url, "SELECT current_database(), current_user") == f"{db}|berth"
    # a fresh database is empty
    assert Postgres.psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
    assert Postgres.psql(url, "SHOW max_connections") == os.environ.get("BERTH_PG_MAX_CONNECTIONS", "300")
    # each call gives another database
    assert Postgres.fresh_database_url() != url


def test_postgres_restart_keeps_data():
    url = FAULTS.fresh_database_url()
    FAULTS.psql(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
    FAULTS.restart()
    assert FAULTS.psql(url, "SELECT x FROM t") == "42"


def test_postgres_stop_start():
    url = FAULTS.fresh_database_url()
    FAULTS.stop()
    try:
        assert not FAULTS.is_running()
        with pytest.raises(Exception):
            FAULTS.psql(url, "SELECT 1")
    finally:
        FAULTS.start()
    assert FAULTS.is_running()
    assert FAULTS.psql(url, "SELECT 1") == "1"


# ---------------------------------------------------------------------------------------------
# Garage
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def garage_single(tmp_path_factory):
    g = Garage.single(str(tmp_path_factory.mktemp("garage-single")))
    yield g
    g.stop()


@pytest.fixture(scope="module")
def garage_cluster(tmp_path_factory):
    g = Garage.cluster(str(tmp_path_factory.mktemp("garage-cluster")))
    yield g
    g.stop()


def test_garage_single_put_get(garage_single):
    g = garage_single
    assert set(g.env) >= {
        "BERTH_STORAGE__ENDPOINT", "BERTH_STORAGE__REGION", "BERTH_STORAGE__BUCKET",
        "BERTH_STORAGE__ACCESS_KEY_ID", "BERTH_STORAGE__SECRET_ACCESS_KEY",
    }
    assert g.env["BERTH_STORAGE__BUCKET"] == "berth"
    assert g.env["BERTH_STORAGE__REGION"] == "garage"
    assert g.endpoints == [g.endpoint]
    key, body = put_get(g)
    s3 = s3_client(g)
    assert s3.head_object(Bucket=g.bucket, Key=key)["ContentLength"] == len(body)
    # ranged read, as Berth's blob GET with Range does
    part = s3.get_object(Bucket=g.bucket, Key=key, Range="bytes=10-19")["Body"].read()
    assert part == body[10:20]
    s3.delete_object(Bucket=g.bucket, Key=key)


def test_garage_single_is_idempotent(garage_single):
    g = garage_single
    again = Garage.single(g.dir)
    assert again.env == g.env
    put_get(again, size=1000)


def test_garage_single_restart_keeps_objects(tmp_path):
    g = Garage.single(str(tmp_path / "g"))
    try:
        key, body = put_get(g, size=5000)
        g.stop()
        g2 = Garage.single(g.dir)  # restarts the stopped node with its data and key
        assert g2.env == g.env
        assert s3_client(g2).get_object(Bucket=g2.bucket, Key=key)["Body"].read() == body
    finally:
        g.stop()


def test_garage_cluster_survives_one_node_down(garage_cluster):
    g = garage_cluster
    assert len(g.endpoints) == 3
    assert g.endpoint == g.endpoints[0]
    before, before_body = put_get(g)
    g.stop_node(2)
    try:
        # writes and reads still reach a quorum (2 of 3), through node 1 and node 3
        key, body = put_get(g)
        key3, body3 = put_get(g, endpoint=g.endpoints[2], size=100_000)
        s3 = s3_client(g)
        assert s3.get_object(Bucket=g.bucket, Key=before)["Body"].read() == before_body
        assert s3_client(g, g.endpoints[2]).get_object(Bucket=g.bucket, Key=key)["Body"].read() == body
    finally:
        g.start_node(2)
    # node 2 is back and serves everything, including what was written while it was down
    s3_2 = s3_client(g, g.endpoints[1])
    assert s3_2.get_object(Bucket=g.bucket, Key=key)["Body"].read() == body
    assert s3_2.get_object(Bucket=g.bucket, Key=key3)["Body"].read() == body3
    put_get(g, endpoint=g.endpoints[1], size=4096)


def test_garage_cluster_survives_a_crashed_node(garage_cluster):
    g = garage_cluster
    g.stop_node(3, kill=True)
    try:
        key, body = put_get(g, size=200_000)
    finally:
        g.start_node(3)
    s3 = s3_client(g, g.endpoints[2])
    assert s3.get_object(Bucket=g.bucket, Key=key)["Body"].read() == body
    s3.close()
