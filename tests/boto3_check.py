"""Drive an `oq dev` server with boto3, a real S3 client none of us wrote.

Usage: python3 tests/boto3_check.py URL ACCESS_KEY_ID SECRET_ACCESS_KEY

Exits 0 when every check passes, 1 (with the failing check) otherwise, and 2 when boto3
is not installed (the test file skips then). Covers bucket creation, versioning,
conditional writes, listing with pagination (the list_objects_v2 paginator, which asks for
encoding-type=url), version listing, batch delete, lifecycle, copy, ranged and
conditional reads, presigned URLs and SigV4 rejection.
"""

import sys
import urllib.error
import urllib.request
import uuid

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover
    print("boto3 is not installed", file=sys.stderr)
    sys.exit(2)


def client(url, access, secret):
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        # s3v4 also for presigned URLs (botocore presigns with SigV2 otherwise, which the dev
        # server refuses like newer AWS regions do).
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def fails(fn, status, code=None):
    try:
        fn()
    except ClientError as e:
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        got_code = e.response["Error"]["Code"]
        assert got_status == status, f"expected HTTP {status}, got {got_status} {got_code}"
        if code is not None:
            assert got_code == code, f"expected {code}, got {got_code}"
        return e
    raise AssertionError(f"expected HTTP {status} {code or ''}, the call succeeded")


def step(name):
    print(f"ok - {name}", flush=True)


def main(url, access, secret):
    s3 = client(url, access, secret)
    bucket = f"boto3-{uuid.uuid4().hex[:10]}"

    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)  # owned already: 200 in us-east-1
    s3.head_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    fails(lambda: s3.head_bucket(Bucket=f"{bucket}-missing"), 404)
    fails(lambda: s3.create_bucket(Bucket="Bad_Name"), 400, "InvalidBucketName")
    step("bucket creation")

    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    step("versioning")

    first = s3.put_object(Bucket=bucket, Key="cond.json", Body=b'{"v":1}', IfNoneMatch="*")
    assert first["ETag"].startswith('"') and first["VersionId"]
    fails(lambda: s3.put_object(Bucket=bucket, Key="cond.json", Body=b"x", IfNoneMatch="*"), 412, "PreconditionFailed")
    second = s3.put_object(Bucket=bucket, Key="cond.json", Body=b'{"v":2}', IfMatch=first["ETag"])
    unquoted = s3.put_object(Bucket=bucket, Key="cond.json", Body=b'{"v":3}', IfMatch=second["ETag"].strip('"'))
    fails(lambda: s3.put_object(Bucket=bucket, Key="cond.json", Body=b"x", IfMatch=first["ETag"]), 412, "PreconditionFailed")
    fails(lambda: s3.put_object(Bucket=bucket, Key="nope.json", Body=b"x", IfMatch=first["ETag"]), 404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="cond.json")["Body"].read() == b'{"v":3}'
    step("conditional writes (If-None-Match: *, If-Match quoted and unquoted)")

    old = s3.get_object(Bucket=bucket, Key="cond.json", VersionId=first["VersionId"])
    assert old["Body"].read() == b'{"v":1}' and old["VersionId"] == first["VersionId"]
    head = s3.head_object(Bucket=bucket, Key="cond.json")
    assert head["ETag"] == unquoted["ETag"] and head["ContentLength"] == 7 and head["VersionId"] == unquoted["VersionId"]
    fails(lambda: s3.get_object(Bucket=bucket, Key="cond.json", IfNoneMatch=unquoted["ETag"]), 304)
    fails(lambda: s3.get_object(Bucket=bucket, Key="cond.json", IfMatch=first["ETag"]), 412, "PreconditionFailed")
    ranged = s3.get_object(Bucket=bucket, Key="cond.json", Range="bytes=1-3")
    assert ranged["Body"].read() == b'"v"' and ranged["ContentRange"] == "bytes 1-3/7"
    step("reads by version, HEAD, conditional and ranged GET")

    keys = [f"list/{i:03d}" for i in range(23)] + ["list/a b+c", "list/üñï", "list/d1/x", "list/d1/y", "list/d2/z"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="list/", PaginationConfig={"PageSize": 7})
    seen, count = [], 0
    for page in pages:
        count += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys, key=lambda k: k.encode()), seen
    assert count == 4, count
    grouped = s3.list_objects_v2(Bucket=bucket, Prefix="list/", Delimiter="/", MaxKeys=1000)
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["list/d1/", "list/d2/"]
    v1 = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="list/", PaginationConfig={"PageSize": 10}) for o in p.get("Contents", [])]
    assert v1 == seen
    flat = []
    for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 2}):
        flat += [o["Key"] for o in p.get("Contents", [])] + [c["Prefix"] for c in p.get("CommonPrefixes", [])]
    assert sorted(flat) == sorted([k for k in keys if "/d" not in k] + ["list/d1/", "list/d2/"]), flat
    flat2 = []
    for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 2}):
        flat2 += [o["Key"] for o in p.get("Contents", [])] + [c["Prefix"] for c in p.get("CommonPrefixes", [])]
    assert sorted(flat2) == sorted(flat), flat2
    step("listing with pagination (v2 paginator, delimiter, v1 paginator)")

    s3.delete_object(Bucket=bucket, Key="cond.json")
    fails(lambda: s3.get_object(Bucket=bucket, Key="cond.json"), 404, "NoSuchKey")
    fails(lambda: s3.head_object(Bucket=bucket, Key="cond.json"), 404)
    entries = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="cond", PaginationConfig={"PageSize": 2}):
        entries += [("v", v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        entries += [("m", m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
    assert len(entries) == 4, entries
    markers = [e for e in entries if e[0] == "m"]
    assert len(markers) == 1 and markers[0][2] is True
    assert {e[1] for e in entries if e[0] == "v"} == {first["VersionId"], second["VersionId"], unquoted["VersionId"]}
    fails(lambda: s3.get_object(Bucket=bucket, Key="cond.json", VersionId=markers[0][1]), 405)
    step("version listing with pagination and delete markers")

    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert len(r.get("Deleted", [])) == len(keys) and not r.get("Errors"), r
    assert all(d["DeleteMarker"] for d in r["Deleted"])
    assert s3.list_objects_v2(Bucket=bucket, Prefix="list/")["KeyCount"] == 0
    step("batch delete")

    copied = s3.copy_object(Bucket=bucket, Key="copy.json", CopySource={"Bucket": bucket, "Key": "cond.json", "VersionId": first["VersionId"]})
    assert copied["CopyObjectResult"]["ETag"] == first["ETag"]
    step("copy")

    s3.upload_fileobj(__import__("io").BytesIO(b"z" * 300_000), bucket, "big/blob")
    buf = __import__("io").BytesIO()
    s3.download_fileobj(bucket, "big/blob", buf)
    assert buf.getvalue() == b"z" * 300_000
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big/blob"}, ExpiresIn=60)
    try:
        with urllib.request.urlopen(presigned) as resp:
            assert len(resp.read()) == 300_000
    except urllib.error.HTTPError as e:
        raise AssertionError(f"presigned GET failed: {presigned} {e.code} {e.read()}")
    step("transfer manager upload/download and presigned GET")

    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{
            "ID": "expire-old",
            "Filter": {"Prefix": "ready/"},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }]},
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["ID"] == "expire-old" and rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    step("lifecycle configuration")

    fails(lambda: client(url, access, secret + "x").list_buckets(), 403, "SignatureDoesNotMatch")
    fails(lambda: client(url, access + "x", secret).list_buckets(), 403, "InvalidAccessKeyId")
    step("SigV4 rejection")

    fails(lambda: s3.delete_bucket(Bucket=bucket), 409, "BucketNotEmpty")
    everything = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        everything += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    for i in range(0, len(everything), 1000):
        r = s3.delete_objects(Bucket=bucket, Delete={"Objects": everything[i:i + 1000], "Quiet": True})
        assert not r.get("Errors") and not r.get("Deleted"), r
    s3.delete_bucket(Bucket=bucket)
    fails(lambda: s3.head_bucket(Bucket=bucket), 404)
    step("versions deleted by id (quiet batch), bucket deleted")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    try:
        main(*sys.argv[1:])
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
