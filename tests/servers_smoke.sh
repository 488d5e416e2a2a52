#!/usr/bin/env bash
# Smoke test of scripts/servers.sh: start, boto3 check of each running server, stop, and
# check that no daemon we started is left. Uses its own state dir, so it does not disturb
# servers already started from tmp/servers. Usage: tests/servers_smoke.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export OQ_SERVERS_DIR
OQ_SERVERS_DIR="$(mktemp -d)"
trap '"$ROOT/scripts/servers.sh" stop; rm -rf "$OQ_SERVERS_DIR"' EXIT

"$ROOT/scripts/servers.sh" start
ENV="$("$ROOT/scripts/servers.sh" env)"
echo "$ENV"
pids=$(cat "$OQ_SERVERS_DIR"/moto/pid "$OQ_SERVERS_DIR"/ceph/run/*.pid 2>/dev/null)

env $ENV python3 - <<'PY'
import os, boto3, botocore.config
from botocore.exceptions import ClientError
cfg = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
servers = []
if os.environ.get("OQ_TEST_MOTO_URL"):
    servers.append(("moto", os.environ["OQ_TEST_MOTO_URL"], "test", "test"))
if os.environ.get("OQ_TEST_CEPH_URL"):
    servers.append(("ceph", os.environ["OQ_TEST_CEPH_URL"],
                    os.environ["OQ_TEST_CEPH_ACCESS_KEY"], os.environ["OQ_TEST_CEPH_SECRET_KEY"]))
assert servers, "no server running"
for name, url, ak, sk in servers:
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ak, aws_secret_access_key=sk,
                      region_name="us-east-1", config=cfg)
    b = "oq-smoke"  # unversioned: Ceph ignores If-None-Match on versioned buckets
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"1", IfNoneMatch="*")
    try:
        s3.put_object(Bucket=b, Key="k", Body=b"2", IfNoneMatch="*")
        raise SystemExit(f"{name}: second conditional PUT succeeded, expected 412")
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status == 412, f"{name}: expected 412, got {status}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
    assert keys == ["k"], keys
    body = s3.get_object(Bucket=b, Key="k")["Body"].read()
    assert body == b"1", body
    print(f"{name}: OK (create bucket, put If-None-Match=* -> 200 then 412, list {keys}, body {body!r})")
PY

"$ROOT/scripts/servers.sh" stop
for p in $pids; do
  if [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status"; then echo "FAIL: pid $p still running" >&2; exit 1; fi
done
echo "servers_smoke: OK (all daemons stopped: $(echo $pids))"
