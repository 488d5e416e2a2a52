#!/usr/bin/env bash
# Ceph's S3 compatibility suite (github ceph/s3-tests) against `oq dev`.
#
#   bash scripts/s3tests.sh /path/to/s3-tests [--runtime node|bun|deno] [--list] [-- PYTEST-ARGS]
#
# The suite is not part of this project: give the path of a checkout (its commit is printed
# with the results). The script starts `oq dev --memory` on a free loopback port with the three
# key pairs the suite signs with (main, alt, tenant), writes the suite's config and small
# stand-ins for the python modules it imports but this machine may lack (munch, pytz, isodate)
# into a temporary directory, runs the selection below (the groups issue 17 names: bucket,
# object, conditional GET/PUT/DELETE, ListObjects v1/v2, versioning, multi-delete, auth), stops
# the server by its pid and prints passed/failed/skipped with the failing names.
# --list prints the selected test ids and runs nothing. Exit status: 0 when nothing failed.
# Network: 127.0.0.1 only. Needs python3 with pytest and boto3.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUITE="${1:-}"
if [[ -z "$SUITE" || ! -f "$SUITE/s3tests/functional/test_s3.py" ]]; then
  echo "usage: bash scripts/s3tests.sh /path/to/s3-tests [--runtime node|bun|deno] [--list] [-- PYTEST-ARGS]" >&2
  echo "  (a checkout of https://github.com/ceph/s3-tests; not found at '${SUITE}')" >&2
  exit 2
fi
SUITE="$(cd "$SUITE" && pwd)"
shift
RUNTIME=node
LIST=0
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runtime) RUNTIME="$2"; shift 2 ;;
    --list) LIST=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

# The selection: test functions of test_s3.py and test_headers.py whose names match one of the
# groups, minus the features `oq dev` does not offer (ACLs and policies, multipart uploads,
# encryption, object lock, tagging, lifecycle, logging, CORS, website, POST uploads, SigV2).
GROUPS_K=(
  # bucket
  test_bucket_create test_bucket_delete test_bucket_head test_bucket_recreate
  test_bucket_notexist test_bucketv2_notexist test_create_bucket test_list_buckets
  # ListObjects v1 and v2
  test_bucket_list
  # object
  test_object_write test_object_read test_object_head test_object_put test_object_set
  test_object_metadata test_object_raw test_object_copy test_object_requestid
  test_ranged_request test_atomic
  # conditional GET / PUT / DELETE
  test_get_object_if test_put_object_if test_object_put_if test_put_obj_if
  test_delete_object_if test_delete_objects_if test_put_current
  # versioning
  test_versioning test_versioned test_delete_marker
  # multi-delete
  test_multi_object test_multi_objectv2 test_delete_objects
  # auth (test_headers.py: bad/missing signatures, dates, content headers)
  test_object_create_bad test_bucket_create_bad test_object_create_date
  test_object_create_amz_date test_bucket_create_contentlength test_object_presigned
)
EXCLUDE_K=(acl policy lock encrypt sse tagging multipart lifecycle logging cors website
  post_object ownership aws2 torrent storage_class select append restore public anon)
join() { local sep="$1"; shift; local out="$1"; shift; for x in "$@"; do out+="$sep$x"; done; echo "$out"; }
K_EXPR="($(join " or " "${GROUPS_K[@]}")) and not ($(join " or " "${EXCLUDE_K[@]}"))"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/oq-s3tests.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# The suite's three users (their ids are the suite's sample values; any pairs work).
MAIN_KEY=0555b35654ad1656d804 MAIN_SECRET=h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q==
ALT_KEY=NOPQRSTUVWXYZABCDEFG ALT_SECRET=nopqrstuvwxyzabcdefghijklmnabcdefghijklm
TENANT_KEY=HIJKLMNOPQRSTUVWXYZA TENANT_SECRET=opqrstuvwxyzabcdefghijklmnopqrstuvwxyzab

if [[ "$LIST" == 0 ]]; then
  case "$RUNTIME" in
    node) RUN=(node --import tsx) ;;
    bun) RUN=("$ROOT/node_modules/.bin/bun" run) ;;
    deno) RUN=("$ROOT/node_modules/.bin/deno" run -A) ;;
    *) echo "--runtime must be node, bun or deno" >&2; exit 2 ;;
  esac
  (cd "$ROOT" && exec "${RUN[@]}" cli.ts dev --memory --port 0 --host 127.0.0.1 --json \
    --no-create-bucket \
    --access-key "$MAIN_KEY" --secret-key "$MAIN_SECRET" \
    --access-key "$ALT_KEY" --secret-key "$ALT_SECRET" \
    --access-key "$TENANT_KEY" --secret-key "$TENANT_SECRET" \
    >"$TMP/dev.json" 2>"$TMP/dev.log") &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    [[ -s "$TMP/dev.json" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/dev.log" >&2; exit 1; }
    sleep 0.1
  done
  PORT="$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.urlparse(json.load(open(sys.argv[1]))["url"]).port)' "$TMP/dev.json")"
else
  PORT=1
fi

cat >"$TMP/s3tests.conf" <<EOF
[DEFAULT]
host = 127.0.0.1
port = $PORT
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = s3t-{random}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/

[s3 main]
display_name = M. Tester
user_id = testid
email = tester@ceph.com
api_name = default
access_key = $MAIN_KEY
secret_key = $MAIN_SECRET

[s3 alt]
display_name = john.doe
email = john.doe@example.com
user_id = 56789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234
access_key = $ALT_KEY
secret_key = $ALT_SECRET

[s3 tenant]
display_name = testx\$tenanteduser
user_id = testx\$9876543210abcdef0123456789abcdef0123456789abcdef0123456789abcdef
access_key = $TENANT_KEY
secret_key = $TENANT_SECRET
email = tenanteduser@example.com
tenant = testx

[iam]
email = s3@example.com
user_id = 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
access_key = ABCDEFGHIJKLMNOPQRST
secret_key = abcdefghijklmnopqrstuvwxyzabcdefghijklmn
display_name = youruseridhere

[iam root]
access_key = AAAAAAAAAAAAAAAAAAaa
secret_key = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
user_id = RGW11111111111111111
email = account1@ceph.com

[iam alt root]
access_key = BBBBBBBBBBBBBBBBBBbb
secret_key = bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
user_id = RGW22222222222222222
email = account2@ceph.com
EOF

# Stand-ins for modules the suite imports that may be missing here: just what it uses of them.
mkdir -p "$TMP/shims"
python3 -c 'import munch' 2>/dev/null || cat >"$TMP/shims/munch.py" <<'EOF'
class Munch(dict):
    """A dict whose keys are also attributes (the suite uses the class as a namespace)."""
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)
    def __setattr__(self, name, value):
        self[name] = value
EOF
python3 -c 'import pytz' 2>/dev/null || cat >"$TMP/shims/pytz.py" <<'EOF'
import datetime
utc = datetime.timezone.utc
EOF
python3 -c 'import isodate' 2>/dev/null || cat >"$TMP/shims/isodate.py" <<'EOF'
import datetime
def parse_datetime(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
EOF

# A pytest plugin that records each selected test's markers (fails_on_aws: RGW behaviour AWS
# does not have; fails_on_rgw) so the summary can say which failures carry one.
cat >"$TMP/shims/oq_s3tests_markers.py" <<'EOF'
import json, os
def pytest_collection_modifyitems(items):
    with open(os.environ["OQ_S3TESTS_MARKERS"], "w") as f:
        json.dump({i.name: sorted({m.name for m in i.iter_markers()}) for i in items}, f)
EOF

COMMIT="$(git -C "$SUITE" rev-parse HEAD 2>/dev/null || echo unknown)"
FILES=(s3tests/functional/test_s3.py s3tests/functional/test_headers.py)
cd "$SUITE"
export S3TEST_CONF="$TMP/s3tests.conf" PYTHONPATH="$TMP/shims${PYTHONPATH:+:$PYTHONPATH}"
export OQ_S3TESTS_MARKERS="$TMP/markers.json"
if [[ "$LIST" == 1 ]]; then
  python3 -m pytest -p no:cacheprovider --collect-only -q "${FILES[@]}" -k "$K_EXPR" | grep '::'
  exit 0
fi
echo "s3-tests $COMMIT against oq dev ($RUNTIME) on 127.0.0.1:$PORT" >&2
set +e
python3 -m pytest -p no:cacheprovider -p oq_s3tests_markers -q -rfEs --tb=line --junitxml="$TMP/junit.xml" \
  "${FILES[@]}" -k "$K_EXPR" "${EXTRA[@]}" >"$TMP/pytest.log" 2>&1
RC=$?
set -e
tail -n 3 "$TMP/pytest.log" >&2
python3 - "$TMP/junit.xml" "$COMMIT" "$RUNTIME" "$TMP/markers.json" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
path, commit, runtime, markers_path = sys.argv[1:5]
markers = json.load(open(markers_path))
def noted(name):
    marks = [m for m in markers.get(name, []) if m in ("fails_on_aws", "fails_on_rgw")]
    return f" [{', '.join(marks)}]" if marks else ""
passed, failed, skipped = [], [], []
for case in ET.parse(path).getroot().iter("testcase"):
    name = case.get("name")
    bad = case.find("failure") if case.find("failure") is not None else case.find("error")
    if bad is not None:
        failed.append((name, (bad.get("message") or "").splitlines()[0][:150] if bad.get("message") else ""))
    elif case.find("skipped") is not None:
        skipped.append(name)
    else:
        passed.append(name)
print(f"s3-tests {commit}, oq dev on {runtime}: {len(passed) + len(failed) + len(skipped)} selected, "
      f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
marked = sum(1 for name, _ in failed if noted(name))
print(f"{marked} of the {len(failed)} failures are marked fails_on_aws or fails_on_rgw")
for name, why in sorted(failed):
    print(f"FAILED {name}{noted(name)}: {why}")
for name in sorted(skipped):
    print(f"SKIPPED {name}")
EOF
exit "$RC"
