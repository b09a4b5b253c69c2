/**
 * ListObjects answers, read without a general XML parser.
 *
 * Listing a job's prefix is most of what accepting an S3-prefix job costs the coordinator, and the minio client's
 * generic XML parser spent about 17 ms of CPU per page of 1000 keys on it, blocking the leader's event loop (no
 * claim or report is answered meanwhile). The answer's shape is fixed and flat: each object is a `<Contents>`
 * element with `<Key>`, `<Size>` and `<ETag>` children, and text is escaped, so no `<` appears inside one. Reading
 * those elements by name costs about 2.4 ms per page.
 */
import { s3Escape } from "./s3-presign.js";

export interface ListedObject {
  key: string;
  size: number;
  /** As the server sent it (usually quoted). */
  etag: string;
}

export interface ListPage {
  objects: ListedObject[];
  /** The marker of the next page (the key it starts after); undefined on the last. */
  next: string | undefined;
}

/** The query of one ListObjects (version 1) page, sorted as request signing wants it (storage.ts says why V1). */
export function listObjectsQuery(prefix: string, marker?: string): string {
  const query = ["encoding-type=url", "max-keys=1000", `prefix=${s3Escape(prefix)}`];
  if (marker !== undefined) query.push(`marker=${s3Escape(marker)}`);
  return query.sort().join("&");
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML text with its entity and character references resolved. */
export function xmlText(raw: string): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    return NAMED[ref] ?? whole;
  });
}

/** The text of the first `<name>` element in `xml` (from `from`), or undefined. */
function element(xml: string, name: string, from = 0, to = xml.length): string | undefined {
  const open = `<${name}>`;
  const start = xml.indexOf(open, from);
  if (start < 0 || start >= to) return undefined;
  const end = xml.indexOf(`</${name}>`, start + open.length);
  if (end < 0 || end > to) return undefined;
  return xmlText(xml.slice(start + open.length, end));
}

/**
 * A key as listed: with `encoding-type=url` asked and honoured (the answer says `<EncodingType>url`), keys come
 * URL-encoded with `+` for a space (as S3 and MinIO send them, so that keys with characters XML cannot carry
 * list); a server that ignores the parameter sends them as they are, and decoding those would corrupt keys
 * holding `+` or `%`.
 */
function listedKey(text: string, urlEncoded: boolean): string {
  return urlEncoded ? decodeURIComponent(text.replace(/\+/g, " ")) : text;
}

/** One page of a ListObjects answer (`ListBucketResult`); throws on a body that is not one. */
export function parseListObjects(xml: string): ListPage {
  if (!xml.includes("<ListBucketResult")) throw new Error("not a ListBucketResult");
  const listed: ListedObject[] = [];
  let at = 0;
  for (;;) {
    const start = xml.indexOf("<Contents>", at);
    if (start < 0) break;
    const end = xml.indexOf("</Contents>", start);
    if (end < 0) throw new Error("a <Contents> element is not closed");
    const key = element(xml, "Key", start, end);
    if (key === undefined) throw new Error("a <Contents> element has no <Key>");
    const size = Number(element(xml, "Size", start, end) ?? "0");
    listed.push({ key, size: Number.isFinite(size) ? size : 0, etag: element(xml, "ETag", start, end) ?? "" });
    at = end;
  }
  // The page's own fields precede or follow the objects (servers differ: MinIO sends EncodingType last); none of
  // them occurs inside one.
  const first = xml.indexOf("<Contents>");
  const outside = first < 0 ? xml : xml.slice(0, first) + xml.slice(at);
  const urlEncoded = element(outside, "EncodingType") === "url";
  const objects = urlEncoded ? listed.map((object) => ({ ...object, key: listedKey(object.key, true) })) : listed;
  if (element(outside, "IsTruncated") !== "true") return { objects, next: undefined };
  // NextMarker comes only with a delimiter; without one the next page starts after the last key listed.
  const marker = element(outside, "NextMarker");
  const next = marker ? listedKey(marker, urlEncoded) : objects.at(-1)?.key;
  if (next === undefined) throw new Error("a truncated listing without a key to go on from");
  return { objects, next };
}
