/**
 * A minimal XML tree over fast-xml-parser, and XML escaping for request bodies.
 *
 * The parser runs in `preserveOrder` mode and every node is turned into
 * `{ name, text, children }`. That sidesteps fast-xml-parser's two traps for S3 data:
 * a single child element is never collapsed into a non-array (so no `isArray` list to
 * keep up to date), and no text is ever converted to a number (`parseTagValue: false`,
 * so keys like `007`, ETags like `1e5` and version ids stay strings). It also keeps the
 * document order, which ListObjectVersions needs (versions and delete markers are
 * interleaved). Values are not trimmed (keys may start or end with spaces), and
 * entities are decoded here, numeric references included, which fast-xml-parser does not.
 *
 * @module
 */

import { XMLParser } from "fast-xml-parser";

/** One element: its local name, its text content and its child elements in order. */
export interface XmlNode {
  /** Local name (namespace prefix removed). */
  name: string;
  /** Concatenated, entity-decoded text directly inside this element. */
  text: string;
  /** Child elements in document order. */
  children: XmlNode[];
}

/** Thrown when a response body is not the XML we expect. */
export class XmlShapeError extends Error {
  /** Create a shape error. */
  constructor(message: string) {
    super(message);
    this.name = "XmlShapeError";
  }
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type OrderedEntry = Record<string, unknown>;

/**
 * Parse a document and return its root element. Throws {@link XmlShapeError} when there
 * is no root element.
 *
 * @example
 * ```ts
 * import { parseXml, childText } from "./xml.ts";
 * const root = parseXml("<Error><Code>NoSuchKey</Code></Error>");
 * childText(root, "Code"); // "NoSuchKey"
 * ```
 */
export function parseXml(xml: string): XmlNode {
  let entries: unknown;
  try {
    entries = parser.parse(xml);
  } catch (e) {
    throw new XmlShapeError(`Response is not XML: ${e instanceof Error ? e.message : e}`);
  }
  const root = Array.isArray(entries) ? toNodes(entries as OrderedEntry[])[0] : undefined;
  if (!root) throw new XmlShapeError("Response has no XML root element");
  return root;
}

function toNodes(entries: OrderedEntry[]): XmlNode[] {
  const nodes: XmlNode[] = [];
  for (const entry of entries) {
    for (const [name, value] of Object.entries(entry)) {
      if (name === "#text" || name === ":@" || !Array.isArray(value)) continue;
      const children = toNodes(value as OrderedEntry[]);
      let text = "";
      for (const c of value as OrderedEntry[]) {
        if (typeof c["#text"] === "string") text += c["#text"];
      }
      nodes.push({ name, text: decodeXmlEntities(text), children });
    }
  }
  return nodes;
}

/** The first child element named `name`. */
export function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

/** All child elements named `name`, in document order. */
export function children(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

/** Text of the first child element named `name`; `undefined` when absent. */
export function childText(node: XmlNode, name: string): string | undefined {
  return child(node, name)?.text;
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decode the five XML entities and numeric character references, in one pass. */
export function decodeXmlEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(?:#[xX]([0-9a-fA-F]+)|#([0-9]+)|([a-z]+));/g, (m, hex, dec, name) => {
    if (name !== undefined) return NAMED[name] ?? m;
    const cp = parseInt(hex ?? dec, hex !== undefined ? 16 : 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

/**
 * Escape text for an XML element body. Carriage returns and tabs are written as
 * character references so that XML end-of-line normalisation cannot alter a key.
 *
 * @example
 * ```ts
 * import { escapeXml } from "./xml.ts";
 * escapeXml("a<b&c"); // "a&lt;b&amp;c"
 * ```
 */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"'\r\t]/g, (c) => {
    switch (c) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      case "'":
        return "&apos;";
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}
