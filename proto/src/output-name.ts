/**
 * The name an output is saved under, wherever it is saved (the CLI's --out folder, the gateway's zip, a
 * presigned download, the web page's download): the source's base name with the output's extension
 * ("uploads/t/abc/photo.jpg" compressed to "outputs/t/job/000001.webp" → "photo.webp").
 */
import type { ImageFormat } from "../gen/imgc/v1/options_pb.js";
import { formatExtension } from "./formats.js";

/** An output as an ItemResult describes it: its object key, and its format when the result says. */
export interface Output {
  readonly outputKey: string;
  readonly format?: ImageFormat;
}

/**
 * Control characters, path separators and the characters a file system or a quoted Content-Disposition
 * rejects have no place in a name; they become "_". A dot file keeps its name; an empty one is "image".
 */
function stemOf(source: string): string {
  const base = source.slice(source.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  const stem = [...(dot > 0 ? base.slice(0, dot) : base)]
    .map((c) => (c < " " || c === "\u007f" || c === "\\" || c === ":" || c === '"' ? "_" : c))
    .join("");
  return stem || "image";
}

/** The format's extension; the key's for a format this version does not know. */
function extensionOf({ outputKey, format }: Output): string {
  const known = format === undefined ? "" : formatExtension(format);
  return known ? `.${known}` : (/\.[A-Za-z0-9]{1,8}$/.exec(outputKey)?.[0] ?? "");
}

/** "photo.webp" for the source "…/photo.jpg" and the output "…/000001.webp". */
export const outputFileName = (source: string, output: Output): string => `${stemOf(source)}${extensionOf(output)}`;

/**
 * outputFileName, made unique case-insensitively within one set of files ("photo (2).webp"), so that a folder
 * or a zip unpacks the same on every file system; `reserved` names are taken from the start.
 */
export function createOutputNamer(reserved: readonly string[] = []) {
  const used = new Set(reserved.map((entry) => entry.toLowerCase()));
  return (source: string, output: Output): string => {
    const stem = stemOf(source);
    const extension = extensionOf(output);
    let candidate = `${stem}${extension}`;
    for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${extension}`;
    used.add(candidate.toLowerCase());
    return candidate;
  };
}

/**
 * The stem a job's downloads are saved under (`<stem>.zip`, `<stem>-report.csv`): the job's label reduced to
 * characters every file system and a quoted Content-Disposition take as they are — ASCII letters and digits,
 * space and `. , - _ ( ) +` (accents dropped, anything else "_") — at most 100 of them; `fallback` (the job id)
 * when nothing is left.
 */
export function downloadStem(label: string, fallback: string): string {
  const ascii = label.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  const safe = ascii
    .replace(/[^A-Za-z0-9 .,()+_-]+/g, "_")
    .replace(/\s+/g, " ")
    .slice(0, 100)
    // A leading dot hides the file; a trailing dot or space is dropped by Windows.
    .replace(/^[\s.]+|[\s.]+$/g, "");
  return safe.replace(/_/g, "") === "" ? fallback : safe;
}
