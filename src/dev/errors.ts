/**
 * S3 errors raised by the dev server: the code, HTTP status and message AWS uses, plus the
 * extra XML fields and response headers some errors carry (`<Key>`, `<CanonicalRequest>`,
 * `x-amz-delete-marker`). The engine's own {@link EngineError}s are rendered the same way.
 *
 * @module
 */

import { EngineError } from "../store/engine.ts";

/**
 * An S3 error answer.
 *
 * @example
 * ```ts
 * import { S3Error } from "./errors.ts";
 * const e = new S3Error("InvalidArgument", 400, "Invalid version id specified");
 * e.status; // 400
 * ```
 */
export class S3Error extends EngineError {
  /** Extra elements of the XML body, e.g. `{ Key: "a.json" }`. */
  readonly fields: Record<string, string>;
  /** Extra response headers. */
  readonly headers: Record<string, string>;

  /** Create an error answer. */
  constructor(
    code: string,
    status: number,
    message: string,
    extra: { fields?: Record<string, string>; headers?: Record<string, string> } = {},
  ) {
    super(code, status, message);
    this.name = "S3Error";
    this.fields = extra.fields ?? {};
    this.headers = extra.headers ?? {};
  }
}

/** 400 InvalidArgument. */
export function invalidArgument(message: string, name?: string, value?: string): S3Error {
  const fields: Record<string, string> = {};
  if (name !== undefined) fields.ArgumentName = name;
  if (value !== undefined) fields.ArgumentValue = value;
  return new S3Error("InvalidArgument", 400, message, { fields });
}

/** 400 MalformedXML. */
export function malformedXml(): S3Error {
  return new S3Error(
    "MalformedXML",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema",
  );
}

/** 501 NotImplemented, naming what the dev server does not do. */
export function notImplemented(what: string): S3Error {
  return new S3Error(
    "NotImplemented",
    501,
    `A header or query you provided implies functionality that is not implemented: ${what} (oq dev)`,
  );
}

/** 400 InvalidRequest. */
export function invalidRequest(message: string): S3Error {
  return new S3Error("InvalidRequest", 400, message);
}

/** 403 AccessDenied. */
export function accessDenied(message = "Access Denied"): S3Error {
  return new S3Error("AccessDenied", 403, message);
}
