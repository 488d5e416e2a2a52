// ACLs on `oq dev`: every bucket and object is private to the account that created the
// bucket. GetBucketAcl/GetObjectAcl show that one grant; ACL writes that ask for exactly
// that are accepted, and every other ACL answers 501 NotImplemented instead of being
// accepted and ignored.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import type { DevServer } from "../src/dev/main.ts";
import { testBucket } from "./backends.ts";
import { call, errorCode, signer, startTestServer } from "./dev_backend.ts";

const T = { timeout: 30_000 };
const MAIN = { accessKeyId: "main-key", secretAccessKey: "main-secret" };
const ALT = { accessKeyId: "alt-key", secretAccessKey: "alt-secret" };
const aws = signer(MAIN.secretAccessKey, MAIN.accessKeyId);
const alt = signer(ALT.secretAccessKey, ALT.accessKeyId);

describe("oq dev: ACLs", () => {
  let dev: DevServer;
  const bucket = testBucket();
  let base = "";
  before(async () => {
    dev = await startTestServer({ bucket, credentials: [MAIN, ALT] });
    base = `${dev.url}/${bucket}`;
    assert.equal((await call(aws, `${base}/k`, { method: "PUT", body: "v" })).status, 200);
  });
  after(async () => await dev?.stop());

  it("shows the owner's FULL_CONTROL, the same owner listings show", T, async () => {
    for (const url of [`${base}?acl`, `${base}/k?acl`]) {
      const r = await call(aws, url);
      assert.equal(r.status, 200, url);
      const ids = [...r.body.matchAll(/<ID>([0-9a-f]{64})<\/ID>/g)].map((m) => m[1]);
      assert.equal(ids.length, 2, r.body);
      assert.equal(ids[0], ids[1]);
      assert.match(r.body, /<Grant><Grantee [^>]*xsi:type="CanonicalUser">/);
      assert.equal([...r.body.matchAll(/<Permission>/g)].length, 1);
      assert.match(r.body, /<Permission>FULL_CONTROL<\/Permission>/);
      const list = await call(aws, base);
      assert.ok(
        list.body.includes(`<Owner><ID>${ids[0]}</ID><DisplayName>main-key</DisplayName>`),
        "list.body.includes(`<Owner><ID>${ids[0]}</ID><DisplayName>main-key</DisplayName>`)",
      );
    }
    assert.equal(errorCode((await call(aws, `${base}/missing?acl`)).body), "NoSuchKey");
    assert.equal((await call(alt, `${base}/k?acl`)).status, 403, "another account is refused");
  });

  it("accepts a private ACL, as it is what holds", T, async () => {
    const owner = /<ID>([0-9a-f]{64})<\/ID>/.exec((await call(aws, `${base}?acl`)).body)![1]!;
    for (const acl of ["private", "bucket-owner-full-control"]) {
      const r = await call(aws, `${base}/k?acl`, { method: "PUT", headers: { "x-amz-acl": acl } });
      assert.equal(r.status, 200, acl);
    }
    const policy = (id: string, permission = "FULL_CONTROL") =>
      `<AccessControlPolicy><Owner><ID>${owner}</ID></Owner><AccessControlList><Grant>` +
      `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">` +
      `<ID>${id}</ID></Grantee><Permission>${permission}</Permission></Grant>` +
      `</AccessControlList></AccessControlPolicy>`;
    assert.equal(
      (await call(aws, `${base}?acl`, { method: "PUT", body: policy(owner) })).status,
      200,
    );
    const other = await call(aws, `${base}/k?acl`, {
      method: "PUT",
      body: policy("ab".repeat(32)),
    });
    assert.equal(other.status, 501);
    assert.equal(errorCode(other.body), "NotImplemented");
    const less = await call(aws, `${base}/k?acl`, { method: "PUT", body: policy(owner, "READ") });
    assert.equal(less.status, 501);
  });

  it("refuses every other ACL with 501", T, async () => {
    const refused = [
      call(aws, `${base}/k?acl`, { method: "PUT", headers: { "x-amz-acl": "public-read" } }),
      call(aws, `${base}?acl`, { method: "PUT", headers: { "x-amz-grant-read": 'uri="x"' } }),
    ];
    for (const r of await Promise.all(refused)) {
      assert.equal(r.status, 501, r.body);
      assert.equal(errorCode(r.body), "NotImplemented");
    }
  });
});
