/**
 * Fails when proto/gen is stale: regenerates the code from proto/ into a temporary folder with the same
 * buf.gen.yaml and compares it file by file with what is committed.
 *
 * The generated code is committed (so Dockerfiles, editors and `tsx` need no generation step); this check,
 * run by `npm run build` and so by CI, keeps it honest. After editing a .proto file: `npm run generate`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const committed = "proto/gen";
const scratch = mkdtempSync(join(tmpdir(), "imgc-gen-"));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

try {
  execFileSync("buf", ["generate", "--output", scratch], { stdio: "inherit" });
  const fresh = join(scratch, committed);
  const want = files(fresh);
  const have = files(committed);
  const stale = [...new Set([...want, ...have])].filter((file) => {
    try {
      return !readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)));
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(`proto/gen is stale (${stale.join(", ")}): run \`npm run generate\` and commit the result.`);
    process.exit(1);
  }
  console.log(`proto/gen is up to date (${want.length} files).`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
