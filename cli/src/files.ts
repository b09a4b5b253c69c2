/** Local files: which ones a command line names, and where their outputs go. */
import { readdir, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { UsageError } from "./args.js";

/** Extensions picked up when a directory is named; a file named explicitly is taken whatever it is. */
export const IMAGE_EXTENSIONS = new Set([
  ".jpg",
  ".jpeg",
  ".jpe",
  ".png",
  ".webp",
  ".avif",
  ".gif",
  ".tif",
  ".tiff",
  ".svg",
  ".heic",
  ".heif",
]);

const CONTENT_TYPES: Record<string, string> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".jpe": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".gif": "image/gif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".svg": "image/svg+xml",
  ".heic": "image/heic",
  ".heif": "image/heif",
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** The files named by `paths`: files as given, directories searched recursively for images, in order. */
export async function collectFiles(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    if (!seen.has(file)) {
      seen.add(file);
      found.push(file);
    }
  };
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) add(path);
    }
  }
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new UsageError(`no such file or directory: ${path}`);
    if (info.isDirectory()) await walk(path);
    else add(path);
  }
  return found;
}

/**
 * Output file names: the source's base name with the output's extension ("photo.jpg" → "photo.webp"),
 * made unique within one run ("photo-2.webp") when two sources share a base name.
 */
export function createOutputNamer() {
  const used = new Set<string>();
  return (source: string, outputKey: string): string => {
    const stem = basename(source, extname(source)) || "image";
    const extension = extname(outputKey) || extname(source);
    let name = `${stem}${extension}`;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${stem}-${n}${extension}`;
    used.add(name.toLowerCase());
    return name;
  };
}
