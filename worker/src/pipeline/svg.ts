import { ErrorCode } from "@imgc/proto";
import { fail } from "./errors.js";

// A reference that stays inside the document: a fragment ("#id") or inline data.
const internal = (value: string): boolean => /^\s*(#|data:)/i.test(value);

/**
 * Makes an SVG self-contained before librsvg sees it: every href/src that is not a fragment or a data URL,
 * every CSS url() likewise, and every @import are neutralised, so rendering can never fetch a network
 * resource or read a local file. (librsvg already refuses most external loads for a buffer without a base
 * URL; this is the second wall.) Entity declarations are refused outright: they are the XXE and
 * "billion laughs" vectors, and no legitimate image needs them.
 */
export const sanitizeSvg = (input: Buffer): Buffer => {
  const text = input.toString("utf8");
  if (/<!ENTITY/i.test(text))
    fail(ErrorCode.UNSUPPORTED_FORMAT, "SVG files that declare XML entities are not accepted");
  const cleaned = text
    .replace(
      /(\s[\w.-]*:?(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)')/gi,
      (whole, name: string, dq?: string, sq?: string) => (internal(dq ?? sq ?? "") ? whole : `${name}"#"`),
    )
    .replace(/url\(\s*(["']?)([^)]*?)\1\s*\)/gi, (whole, _q: string, v: string) => (internal(v) ? whole : "url(#)"))
    .replace(/@import[^;]*;?/gi, "");
  return cleaned === text ? input : Buffer.from(cleaned, "utf8");
};
