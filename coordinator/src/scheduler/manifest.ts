/**
 * Manifests: a list of image URLs, in JSON (an array of URL strings, or of objects with a "url" field) or CSV
 * (a header row, then one column of URLs, as batch APIs commonly take them). A manifest that cannot be read
 * fails SubmitJob; the URLs it lists are checked one by one later, each failing only its own item.
 */
import { ManifestFormat } from "@imgc/proto";

export class ManifestError extends Error {
  override name = "ManifestError";
}

const URL_LIKE = /^https?:\/\/\S+$/i;

export function parseManifest(text: string, format: ManifestFormat, column = ""): string[] {
  const body = text.replace(/^\uFEFF/, "");
  const json = format === ManifestFormat.JSON || (format === ManifestFormat.UNSPECIFIED && /^\s*[[{]/.test(body));
  const urls = json ? jsonUrls(body) : csvUrls(body, column);
  if (urls.length === 0) throw new ManifestError("manifest: it lists no URLs");
  return urls;
}

function jsonUrls(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault: fetched content the caller must not read back.
    throw new ManifestError("manifest: not valid JSON");
  }
  if (!Array.isArray(value)) throw new ManifestError("manifest: expected a JSON array of URLs");
  return value.map((entry, i) => {
    const url = typeof entry === "object" && entry !== null ? (entry as { url?: unknown }).url : entry;
    if (typeof url !== "string" || url.trim() === "") {
      throw new ManifestError(`manifest[${i}]: expected a URL string or an object with a "url" string`);
    }
    return url.trim();
  });
}

function csvUrls(text: string, column: string): string[] {
  const rows = parseCsv(text).filter((row) => row.some((cell) => cell.trim() !== ""));
  const [first, ...rest] = rows;
  if (!first) return [];
  const headers = first.map((cell) => cell.trim());
  let index: number;
  let data = rest;
  if (column) {
    index = headers.findIndex((name) => name.toLowerCase() === column.trim().toLowerCase());
    if (index < 0) {
      // The header row is fetched content: it is not echoed back.
      throw new ManifestError(`manifest: no column ${JSON.stringify(column.slice(0, 64))} in its header row`);
    }
  } else {
    // A file that is just a column of URLs has no header row.
    index = headers.findIndex((cell) => URL_LIKE.test(cell));
    if (index >= 0) data = rows;
    else {
      index = headers.findIndex((_, i) => URL_LIKE.test(rest.find((row) => row[i]?.trim())?.[i]?.trim() ?? ""));
      if (index < 0) throw new ManifestError("manifest: no CSV column holds http(s) URLs; name one with column");
    }
  }
  return data.map((row) => row[index]?.trim() ?? "").filter((url) => url !== "");
}

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
