/**
 * Rendering of the dev server's XML answers (S3's 2006-03-01 schema) and parsing of the
 * XML request bodies. Parsing reuses the client's tree parser (`src/s3/xml.ts`).
 *
 * @module
 */

import { parseXml, type XmlNode, XmlShapeError } from "../s3/xml.ts";
import { escapeXml } from "../s3/xml.ts";
import { malformedXml } from "./errors.ts";

/** The S3 XML namespace. */
export const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";

/** The owner reported in listings (one fixed identity: the dev credentials). */
export const OWNER = {
  id: "0ddc0ffee0ddc0ffee0ddc0ffee0ddc0ffee0ddc0ffee0ddc0ffee0ddc0ffee0d",
  name: "oq-dev",
};

const decoder = new TextDecoder();

/** One element with escaped text; `undefined` values render nothing. */
export function el(name: string, value: string | number | boolean | undefined): string {
  if (value === undefined) return "";
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/**
 * A complete document: the XML declaration and a root element in the S3 namespace.
 *
 * @example
 * ```ts
 * import { document, el } from "./xml.ts";
 * document("VersioningConfiguration", el("Status", "Enabled"));
 * ```
 */
export function document(root: string, inner: string, namespaced = true): string {
  const ns = namespaced ? ` xmlns="${S3_NS}"` : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${inner}</${root}>`;
}

/** An XML response with the right content type. */
export function xmlResponse(
  body: string,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "application/xml", ...headers },
  });
}

/** ISO 8601 with milliseconds, as S3 writes `<LastModified>`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The `<Owner>` element of listings. */
export function ownerXml(): string {
  return `<Owner>${el("ID", OWNER.id)}${el("DisplayName", OWNER.name)}</Owner>`;
}

/**
 * Encode a listing value for `encoding-type=url` the way S3 does: bytes outside
 * `A-Z a-z 0-9 - _ . ~ /` as `%XX`, spaces as `+` (clients decode with `unquote_plus`).
 */
export function urlEncodeValue(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, "/")
    .replace(/%20/g, "+");
}

/** Parse an XML request body; MalformedXML when it is not XML or its root is not `root`. */
export function parseBody(body: Uint8Array, root: string): XmlNode {
  let node: XmlNode;
  try {
    node = parseXml(decoder.decode(body));
  } catch (e) {
    if (e instanceof XmlShapeError) throw malformedXml();
    throw e;
  }
  if (node.name !== root) throw malformedXml();
  return node;
}
