/**
 * DeleteObjects (POST /bucket?delete) for the dev server: up to 1000 keys (or versions)
 * per request, each deleted through the engine (after its preconditions: `ETag`,
 * `LastModifiedTime`, `Size`), with a per-entry result and `Quiet` mode.
 *
 * @module
 */

import { EngineError } from "../store/engine.ts";
import { readIntegrityBody } from "./buckets.ts";
import { ownedBucket, type RequestContext } from "./context.ts";
import {
  checkDeleteConditions,
  type DeleteConditions,
  parseSizeCondition,
  parseTimeCondition,
} from "./delete_conditions.ts";
import { malformedXml } from "./errors.ts";
import { document, el, parseBody, xmlResponse } from "./xml.ts";

/** DeleteObjects: needs Content-MD5 or a checksum header, as on AWS. */
export async function deleteObjects(ctx: RequestContext): Promise<Response> {
  ownedBucket(ctx);
  const root = parseBody(await readIntegrityBody(ctx), "Delete");
  const quiet = root.children.find((c) => c.name === "Quiet")?.text.trim().toLowerCase() === "true";
  const objects = root.children.filter((c) => c.name === "Object");
  if (objects.length === 0 || objects.length > 1000) throw malformedXml();
  const entries = objects.map((o) => {
    const text = (name: string) => o.children.find((c) => c.name === name)?.text;
    const key = text("Key");
    if (key === undefined || key === "") throw malformedXml();
    const conditions: DeleteConditions = {
      ifMatch: text("ETag"),
      lastModified: parseTimeCondition(text("LastModifiedTime"), "LastModifiedTime"),
      size: parseSizeCondition(text("Size"), "Size"),
    };
    return { key, versionId: text("VersionId"), conditions };
  });
  let out = "";
  for (const { key, versionId, conditions } of entries) {
    try {
      // Checked and deleted in one synchronous step, so each conditional entry is atomic.
      checkDeleteConditions(ctx.engine, ctx.bucket, key, versionId, conditions);
      const r = ctx.engine.delete(ctx.bucket, key, versionId);
      if (quiet) continue;
      const marker = r.deleteMarker
        ? `${el("DeleteMarker", true)}${el("DeleteMarkerVersionId", r.versionId)}`
        : "";
      out += `<Deleted>${el("Key", key)}${el("VersionId", versionId)}${marker}</Deleted>`;
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      out += `<Error>${el("Key", key)}${el("VersionId", versionId)}${el("Code", e.code)}${
        el("Message", e.message)
      }</Error>`;
    }
  }
  return xmlResponse(document("DeleteResult", out));
}
