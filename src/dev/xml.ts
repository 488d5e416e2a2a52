/**
 * Rendering of the dev server's XML answers (S3's 2006-03-01 schema) and parsing of the
 * XML request bodies. Parsing reuses the client's tree parser (`src/s3/xml.ts`).
 *
 * @module
 */

import { XMLValidator } from "fast-xml-parser";
import { parseXml, type XmlNode, XmlShapeError } from "../s3/xml.ts";
import { escapeXml } from "../s3/xml.ts";
import { malformedXml } from "./errors.ts";

/** The S3 XML namespace. */
export const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";

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

/** The `<Owner>` element of listings, for an account. */
export function ownerXml(owner: { id: string; displayName: string }): string {
  return `<Owner>${el("ID", owner.id)}${el("DisplayName", owner.displayName)}</Owner>`;
}

/**
 * Encode a listing value for `encoding-type=url` the way S3 does: bytes outside
 * `A-Z a-z 0-9 - _ . ~ /` as `%XX` (a space is `%20`).
 */
export function urlEncodeValue(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, "/");
}

// Characters XML 1.0 does not allow, raw or as a character reference.
const BAD_CHAR =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const REFERENCE = /&(#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z_][\w.-]*);|&/g;

function allowedCodePoint(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Is `xml` one well-formed document: closed elements, allowed characters, known entities? */
function wellFormed(xml: string): boolean {
  if (XMLValidator.validate(xml) !== true || BAD_CHAR.test(xml)) return false;
  for (const m of xml.matchAll(REFERENCE)) {
    const ref = m[1];
    if (ref === undefined) return false; // a bare "&"
    if (ref.startsWith("#")) {
      const hex = ref[1] === "x" || ref[1] === "X";
      if (!allowedCodePoint(parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10))) return false;
    } else if (!["amp", "lt", "gt", "quot", "apos"].includes(ref)) return false;
  }
  return true;
}

/**
 * Parse an XML request body; MalformedXML when it is not one well-formed document (an
 * unclosed element, a second root, a forbidden character such as `&#0;`, an unknown
 * entity) or its root is not `root`.
 */
export function parseBody(body: Uint8Array, root: string): XmlNode {
  const xml = decoder.decode(body);
  if (!wellFormed(xml)) throw malformedXml();
  let node: XmlNode;
  try {
    node = parseXml(xml);
  } catch (e) {
    if (e instanceof XmlShapeError) throw malformedXml();
    throw e;
  }
  if (node.name !== root || rootCount(xml) !== 1) throw malformedXml();
  return node;
}

// How many top-level elements a (validated) document has.
function rootCount(xml: string): number {
  const tags = xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<![^>]*>/g, "");
  let depth = 0;
  let roots = 0;
  for (const m of tags.matchAll(/<(\/?)[^>]*?(\/?)>/g)) {
    if (m[1] === "/") depth--;
    else {
      if (depth === 0) roots++;
      if (m[2] !== "/") depth++;
    }
  }
  return roots;
}
