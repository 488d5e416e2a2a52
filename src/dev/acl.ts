/**
 * Access control lists as the dev server has them: every bucket, and every object in it,
 * belongs to the account that created the bucket, and that account alone may use them
 * (`FULL_CONTROL`). GetBucketAcl and GetObjectAcl show that one grant; a write that asks
 * for exactly that (the canned ACLs `private` and `bucket-owner-full-control`, or a policy
 * whose only grants are `FULL_CONTROL` to the owner) is accepted, since it is what holds.
 * Any other ACL on PutBucketAcl or PutObjectAcl answers 501 NotImplemented: never accepted
 * and then ignored.
 *
 * @module
 */

import { child, children } from "../s3/xml.ts";
import { empty, ownedBucket, type RequestContext, versionIdParam } from "./context.ts";
import { malformedXml, notImplemented } from "./errors.ts";
import { document, el, ownerXml, parseBody, xmlResponse } from "./xml.ts";

/** The canned ACLs that grant the owner, and no one else, full control. */
const PRIVATE_CANNED = ["private", "bucket-owner-full-control"];

/**
 * Refuses (501) the ACL headers of a PUT that would grant more than the owner's full
 * control: a canned ACL other than `private` / `bucket-owner-full-control`, or any
 * `x-amz-grant-*` header.
 */
export function checkAclHeaders(headers: Headers): void {
  const canned = headers.get("x-amz-acl");
  if (canned !== null && !PRIVATE_CANNED.includes(canned.trim())) {
    throw notImplemented(
      `the canned ACL "${canned}" (every bucket and object is private to its account)`,
    );
  }
  for (const name of headers.keys()) {
    if (name.toLowerCase().startsWith("x-amz-grant-")) {
      throw notImplemented(
        `ACL grants (${name}; every bucket and object is private to its account)`,
      );
    }
  }
}

/** The bucket (or, with a key, the object) an ACL request is about; 404 when missing. */
function target(ctx: RequestContext): void {
  ownedBucket(ctx);
  if (ctx.key !== "") ctx.engine.get(ctx.bucket, ctx.key, { versionId: versionIdParam(ctx) });
}

/** GetBucketAcl / GetObjectAcl: the owner, with its one `FULL_CONTROL` grant. */
export function getAcl(ctx: RequestContext): Response {
  target(ctx);
  const owner = ctx.account;
  const grantee = `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
    `xsi:type="CanonicalUser">${el("ID", owner.id)}${el("DisplayName", owner.displayName)}` +
    `</Grantee>`;
  return xmlResponse(
    document(
      "AccessControlPolicy",
      `${ownerXml(owner)}<AccessControlList><Grant>${grantee}` +
        `<Permission>FULL_CONTROL</Permission></Grant></AccessControlList>`,
    ),
  );
}

/**
 * PutBucketAcl / PutObjectAcl: accepted when it asks for what holds (a private canned ACL
 * header, or a policy granting only the owner `FULL_CONTROL`); 501 otherwise.
 */
export async function putAcl(ctx: RequestContext): Promise<Response> {
  target(ctx);
  checkAclHeaders(ctx.req.headers);
  const { bytes } = await ctx.body.bytes();
  if (bytes.length === 0) {
    if (ctx.req.headers.get("x-amz-acl") === null) throw malformedXml();
    return empty(200);
  }
  const root = parseBody(bytes, "AccessControlPolicy");
  const list = child(root, "AccessControlList");
  const grants = list ? children(list, "Grant") : [];
  if (grants.length === 0) throw malformedXml();
  const ownerOnly = grants.every((g) => {
    const grantee = child(g, "Grantee");
    return grantee !== undefined && child(grantee, "ID")?.text.trim() === ctx.account.id &&
      child(g, "Permission")?.text.trim() === "FULL_CONTROL";
  });
  if (!ownerOnly) {
    throw notImplemented(
      "ACL grants other than the owner's FULL_CONTROL (every bucket and object is private to its account)",
    );
  }
  return empty(200);
}
