import { describe } from "node:test";
import assert from "node:assert/strict";
import { StoreError } from "../src/base/errors.ts";
import { createBucketBody, deleteBody, lifecycleBody, versioningBody } from "../src/s3/bodies.ts";
import { conditionalEtag, unquoteEtag } from "../src/s3/etag.ts";
import {
  parseDeleteResult,
  parseListObjects,
  parseListVersions,
  parseReply,
  parseVersioning,
} from "../src/s3/responses.ts";
import { parseErrorBody } from "../src/s3/transport.ts";
import { children, childText, escapeXml, parseXml } from "../src/s3/xml.ts";
import { it } from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// Shaped like AWS S3's answer to ListObjectsV2 with encoding-type=url and delimiter=/.
const AWS_LIST_V2 = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>oq-test</Name><Prefix>tasks%2F0%2F</Prefix><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys><Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><Contents><Key>tasks%2F0%2F007</Key><LastModified>2026-11-22T12:00:00.000Z</LastModified><ETag>&quot;1e5&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>tasks%2F0%2Fa+b%2Bc%25%C3%BC.json</Key><LastModified>2026-11-22T12:00:01.500Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>tasks%2F0%2Fsub+dir%2F</Prefix></CommonPrefixes><CommonPrefixes><Prefix>tasks%2F0%2Fz%2F</Prefix></CommonPrefixes></ListBucketResult>`;

// Shaped like AWS's ListObjectVersions: versions and delete markers interleaved, newest first.
const AWS_VERSIONS = `<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>oq-test</Name><Prefix>ready%2F</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>ready%2Fb+c</NextKeyMarker><NextVersionIdMarker>3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo</NextVersionIdMarker><MaxKeys>4</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><DeleteMarker><Key>ready%2Fa</Key><VersionId>0003</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T12:00:03.000Z</LastModified><Owner><ID>abc</ID></Owner></DeleteMarker><Version><Key>ready%2Fa</Key><VersionId>0002</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T12:00:02.000Z</LastModified><ETag>&quot;0123&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>7</Size><Owner><ID>abc</ID></Owner><StorageClass>STANDARD</StorageClass></Version><DeleteMarker><Key>ready%2Fa</Key><VersionId>0001</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T12:00:01.000Z</LastModified><Owner><ID>abc</ID></Owner></DeleteMarker><Version><Key>ready%2Fb+c</Key><VersionId>3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T12:00:00.000Z</LastModified><ETag>&quot;1e10&quot;</ETag><Size>12</Size><Owner><ID>abc</ID></Owner><StorageClass>STANDARD</StorageClass></Version></ListVersionsResult>`;

// Captured from moto 5.2.1: it ignores encoding-type for versions (raw keys, no echo).
const MOTO_VERSIONS = `<?xml version="1.0" encoding="utf-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><KeyMarker/><VersionIdMarker/><Version><ETag>"eccbc87e4b5ce2fe28308fd9f2a7baf3"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass><Key>m%2B1 x</Key><VersionId>8ee61543-c080-4ba1-9aad-5baa8aeab583</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T12:51:20.000Z</LastModified><Owner><DisplayName>webfile</DisplayName><ID>75aa</ID></Owner></Version><DeleteMarker><Owner><DisplayName>webfile</DisplayName><ID>75aa</ID></Owner><Key>m%2B1 x</Key><VersionId>e0ab738c-d523-4892-9571-7aad3b184aa4</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T12:51:20.000Z</LastModified></DeleteMarker><Name>probe</Name><Prefix>m</Prefix><MaxKeys>1000</MaxKeys></ListVersionsResult>`;

describe("S3 XML responses", () => {
  it("parses ListObjectsV2: decodes keys, keeps numeric-looking values as strings, unquotes ETags", () => {
    const page = parseListObjects(AWS_LIST_V2);
    assert.deepEqual(page.objects.map((o) => o.key), ["tasks/0/007", "tasks/0/a b+c%ü.json"]);
    assert.deepEqual(page.objects.map((o) => o.etag), ["1e5", "9b2cf535f27731c974343645a3985328"]);
    assert.deepEqual(page.objects.map((o) => o.size), [42, 0]);
    assert.equal(page.objects[1]!.lastModified.toISOString(), "2026-11-22T12:00:01.500Z");
    assert.deepEqual(page.commonPrefixes, ["tasks/0/sub dir/", "tasks/0/z/"]);
    assert.equal(page.isTruncated, true);
    assert.equal(page.nextContinuationToken, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  });

  it("parses a one-object page and an empty page (no single-element collapse)", () => {
    const one = parseListObjects(
      `<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>  x  </Key><LastModified>2026-01-01T00:00:00Z</LastModified><ETag>"e"</ETag><Size>1</Size></Contents></ListBucketResult>`,
    );
    assert.deepEqual(one.objects.map((o) => o.key), ["  x  "], "raw keys are not trimmed");
    assert.equal(one.nextContinuationToken, undefined);
    const none = parseListObjects(
      `<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
    );
    assert.deepEqual(none, { objects: [], commonPrefixes: [], isTruncated: false });
  });

  it("parses ListObjectVersions in the server's order, delete markers included", () => {
    const page = parseListVersions(AWS_VERSIONS);
    assert.deepEqual(
      page.versions.map((v) => [v.key, v.versionId, v.isDeleteMarker, v.isLatest, v.etag, v.size]),
      [
        ["ready/a", "0003", true, true, "", 0],
        ["ready/a", "0002", false, false, "0123", 7],
        ["ready/a", "0001", true, false, "", 0],
        [
          "ready/b c",
          "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
          false,
          true,
          "1e10",
          12,
        ],
      ],
    );
    assert.equal(page.isTruncated, true);
    assert.equal(page.nextKeyMarker, "ready/b c");
    assert.equal(
      page.nextVersionIdMarker,
      "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
    );
  });

  it("does not decode keys when the server did not echo EncodingType (moto)", () => {
    const page = parseListVersions(MOTO_VERSIONS);
    assert.deepEqual(page.versions.map((v) => v.key), ["m%2B1 x", "m%2B1 x"]);
    // moto lists versions before delete markers; the current marker is moved first.
    assert.deepEqual(page.versions.map((v) => v.isDeleteMarker), [false, true]);
    assert.equal(page.isTruncated, false);
    assert.equal(page.nextKeyMarker, undefined);
  });

  it("puts the latest entry of a key first when a server (moto) groups delete markers last", () => {
    const entry = (tag: string, id: string, latest: boolean) =>
      `<${tag}><Key>k</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest><LastModified>2026-11-22T12:00:00.000Z</LastModified><ETag>"e"</ETag><Size>1</Size></${tag}>`;
    const xml = `<ListVersionsResult><IsTruncated>false</IsTruncated>${
      entry("Version", "v2", false)
    }${entry("Version", "v1", false)}${entry("DeleteMarker", "dm2", true)}${
      entry("DeleteMarker", "dm1", false)
    }</ListVersionsResult>`;
    assert.deepEqual(parseListVersions(xml).versions.map((v) => v.versionId), [
      "dm2",
      "v2",
      "v1",
      "dm1",
    ]);
  });

  it("parses DeleteObjects results with per-key errors and entities", () => {
    const r = parseDeleteResult(`<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>a&amp;b</Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>dm1</DeleteMarkerVersionId></Deleted>
  <Deleted><Key>c</Key><VersionId>v9</VersionId></Deleted>
  <Error><Key>line&#13;&#x41;</Key><VersionId>v1</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
</DeleteResult>`);
    assert.deepEqual(r.deleted, [{ key: "a&b" }, { key: "c", versionId: "v9" }]);
    assert.deepEqual(r.errors, [{
      key: "line\rA",
      versionId: "v1",
      code: "AccessDenied",
      message: "Access Denied",
    }]);
  });

  it("parses versioning states, moto's empty answer included", () => {
    const ns = `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`;
    assert.equal(
      parseVersioning(
        `<VersioningConfiguration ${ns}><Status>Enabled</Status></VersioningConfiguration>`,
      ),
      "Enabled",
    );
    assert.equal(
      parseVersioning(
        `<VersioningConfiguration ${ns}><Status>Suspended</Status></VersioningConfiguration>`,
      ),
      "Suspended",
    );
    assert.equal(parseVersioning(`<VersioningConfiguration ${ns}/>`), "Unversioned");
    assert.equal(
      parseVersioning(
        `<?xml version="1.0" encoding="utf-8"?>\n<GetBucketVersioningResponse ${ns}/>`,
      ),
      "Unversioned",
    );
  });

  it("parses error bodies, and survives non-XML ones", () => {
    const body = enc.encode(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>`);
    assert.deepEqual(parseErrorBody(body), {
      code: "SlowDown",
      message: "Please reduce your request rate.",
      requestId: "4442587FB7D0A2F9",
    });
    assert.deepEqual(parseErrorBody(enc.encode("<html><body>502 Bad Gateway</body></html>")), {});
    assert.deepEqual(parseErrorBody(enc.encode("Method Not Allowed")), {});
    assert.deepEqual(parseErrorBody(new Uint8Array()), {});
  });

  it("turns a body of the wrong shape into StoreError InvalidResponse", () => {
    assert.throws(
      () => parseReply("ListObjectsV2", "b", enc.encode("<Other/>"), parseListObjects),
      (e: unknown) =>
        e instanceof StoreError && e.code === "InvalidResponse" && /ListObjectsV2/.test(e.message),
    );
    assert.throws(
      () =>
        parseReply(
          "X",
          "b",
          enc.encode(
            "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size><LastModified>2026-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>",
          ),
          parseListObjects,
        ),
      StoreError,
    );
  });
});

describe("ETags", () => {
  it("are returned unquoted", () => {
    assert.equal(unquoteEtag('"abc"'), "abc");
    assert.equal(unquoteEtag('W/"abc"'), "abc");
    assert.equal(unquoteEtag("abc"), "abc");
    assert.equal(unquoteEtag('"abc-2"'), "abc-2");
  });

  it("are sent unquoted on writes (Ceph) and quoted on reads (moto HEAD)", () => {
    assert.equal(conditionalEtag('"abc"', "PUT"), "abc");
    assert.equal(conditionalEtag("abc", "PUT"), "abc");
    assert.equal(conditionalEtag("abc", "GET"), '"abc"');
    assert.equal(conditionalEtag('"abc"', "HEAD"), '"abc"');
    assert.equal(conditionalEtag("*", "PUT"), "*");
  });
});

describe("S3 XML request bodies", () => {
  it("escapes keys so that they round-trip through the parser", () => {
    const keys = [`a&b<c>"d'e`, "tab\there", "cr\rlf\n", "  spaced  ", "ü/é%41"];
    const root = parseXml(dec.decode(deleteBody(keys.map((key) => ({ key })))));
    assert.equal(root.name, "Delete");
    assert.equal(childText(root, "Quiet"), "false");
    assert.deepEqual(children(root, "Object").map((o) => childText(o, "Key")), keys);
    assert.equal(escapeXml("a<b&c"), "a&lt;b&amp;c");
  });

  it("writes versioning, bucket location and lifecycle documents", () => {
    assert.match(dec.decode(versioningBody(true)), /<Status>Enabled<\/Status>/);
    assert.match(dec.decode(versioningBody(false)), /<Status>Suspended<\/Status>/);
    assert.equal(createBucketBody("us-east-1"), undefined);
    assert.match(
      dec.decode(createBucketBody("eu-west-1")!),
      /<LocationConstraint>eu-west-1<\/LocationConstraint>/,
    );
    const xml = dec.decode(lifecycleBody([
      {
        id: "index",
        prefix: "ready/",
        noncurrentVersionExpirationDays: 1,
        expiredObjectDeleteMarker: true,
      },
      { id: "tmp", prefix: "tmp/", expirationDays: 3 },
    ]));
    const rules = children(parseXml(xml), "Rule");
    assert.equal(rules.length, 2);
    assert.deepEqual(rules[0]!.children.map((c) => c.name), [
      "ID",
      "Filter",
      "Status",
      "Expiration",
      "NoncurrentVersionExpiration",
    ]);
    assert.match(xml, /<ExpiredObjectDeleteMarker>true<\/ExpiredObjectDeleteMarker>/);
    assert.match(xml, /<NoncurrentDays>1<\/NoncurrentDays>/);
    assert.match(xml, /<Expiration><Days>3<\/Days><\/Expiration>/);
  });

  it("rejects lifecycle rules S3 would reject", () => {
    assert.throws(() => lifecycleBody([{ id: "", prefix: "", expirationDays: 1 }]), TypeError);
    assert.throws(() => lifecycleBody([{ id: "a", prefix: "" }]), /no action/);
    assert.throws(() => lifecycleBody([{ id: "a", prefix: "", expirationDays: 0 }]), TypeError);
    assert.throws(
      () =>
        lifecycleBody([{
          id: "a",
          prefix: "",
          expirationDays: 1,
          expiredObjectDeleteMarker: true,
        }]),
      TypeError,
    );
  });
});
