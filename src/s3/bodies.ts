/**
 * XML request bodies: CreateBucket, PutBucketVersioning, PutBucketLifecycleConfiguration
 * and DeleteObjects. Every value is escaped.
 *
 * @module
 */

import type { DeleteEntry, LifecycleRule } from "./types.ts";
import { escapeXml } from "./xml.ts";

const NS = "http://s3.amazonaws.com/doc/2006-03-01/";
const encoder = new TextEncoder();

/**
 * CreateBucket body: none in us-east-1 (AWS rejects a `us-east-1` LocationConstraint),
 * a LocationConstraint elsewhere.
 */
export function createBucketBody(region: string): Uint8Array | undefined {
  if (region === "us-east-1") return undefined;
  return encoder.encode(
    `<CreateBucketConfiguration xmlns="${NS}"><LocationConstraint>${
      escapeXml(region)
    }</LocationConstraint></CreateBucketConfiguration>`,
  );
}

/** PutBucketVersioning body. */
export function versioningBody(enabled: boolean): Uint8Array {
  const status = enabled ? "Enabled" : "Suspended";
  return encoder.encode(
    `<VersioningConfiguration xmlns="${NS}"><Status>${status}</Status></VersioningConfiguration>`,
  );
}

/**
 * PutBucketLifecycleConfiguration body. Throws `TypeError` for a rule S3 would reject:
 * no id, no action, a non-positive day count, or `expiredObjectDeleteMarker` together
 * with `expirationDays` (S3 allows only one of them in `<Expiration>`).
 */
export function lifecycleBody(rules: LifecycleRule[]): Uint8Array {
  const xml = rules.map((rule) => {
    if (typeof rule.id !== "string" || rule.id === "" || rule.id.length > 255) {
      throw new TypeError("Lifecycle rule id must be a non-empty string of at most 255 characters");
    }
    if (typeof rule.prefix !== "string") {
      throw new TypeError(`Lifecycle rule "${rule.id}" needs a string prefix`);
    }
    for (const name of ["expirationDays", "noncurrentVersionExpirationDays"] as const) {
      const days = rule[name];
      if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
        throw new TypeError(`Lifecycle rule "${rule.id}": ${name} must be a positive integer`);
      }
    }
    if (rule.expirationDays !== undefined && rule.expiredObjectDeleteMarker) {
      throw new TypeError(
        `Lifecycle rule "${rule.id}": expirationDays and expiredObjectDeleteMarker cannot be combined`,
      );
    }
    let actions = "";
    if (rule.expirationDays !== undefined) {
      actions += `<Expiration><Days>${rule.expirationDays}</Days></Expiration>`;
    } else if (rule.expiredObjectDeleteMarker) {
      actions +=
        "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>";
    }
    if (rule.noncurrentVersionExpirationDays !== undefined) {
      actions +=
        `<NoncurrentVersionExpiration><NoncurrentDays>${rule.noncurrentVersionExpirationDays}</NoncurrentDays></NoncurrentVersionExpiration>`;
    }
    if (actions === "") throw new TypeError(`Lifecycle rule "${rule.id}" has no action`);
    // Element order follows S3's schema: ID, Filter, Status, then the actions.
    return `<Rule><ID>${escapeXml(rule.id)}</ID><Filter><Prefix>${
      escapeXml(rule.prefix)
    }</Prefix></Filter><Status>Enabled</Status>${actions}</Rule>`;
  }).join("");
  return encoder.encode(`<LifecycleConfiguration xmlns="${NS}">${xml}</LifecycleConfiguration>`);
}

/** DeleteObjects body for at most 1000 entries, Quiet off so every key gets a result. */
export function deleteBody(entries: DeleteEntry[]): Uint8Array {
  const objects = entries.map((e) => {
    const version = e.versionId !== undefined
      ? `<VersionId>${escapeXml(e.versionId)}</VersionId>`
      : "";
    return `<Object><Key>${escapeXml(e.key)}</Key>${version}</Object>`;
  }).join("");
  return encoder.encode(`<Delete xmlns="${NS}"><Quiet>false</Quiet>${objects}</Delete>`);
}
