/** Local files: which ones a command line names. */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { extensionOf, IMAGE_EXTENSIONS } from "@imgc/proto";
import { UsageError } from "./args.js";

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
      else if (entry.isFile() && IMAGE_EXTENSIONS.has(extensionOf(entry.name))) add(path);
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
