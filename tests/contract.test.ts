/**
 * `buf breaking` against the released contract (scripts/check-breaking.ts, run by `npm run lint`): additions
 * pass, a change that breaks existing clients fails and names what broke. Each case edits a copy of proto/
 * in a folder with no git history, as a shallow CI clone has none to compare with.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, test } from "vitest";
import { repoRoot } from "../scripts/lib/local-stack.js";

const scratch: string[] = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the contract's workspace with `edit` applied to proto/imgc/v1/job.proto. */
function contractWith(edit: (jobProto: string) => string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "imgc-contract-"));
  scratch.push(dir);
  cpSync(path.join(repoRoot, "buf.yaml"), path.join(dir, "buf.yaml"));
  cpSync(path.join(repoRoot, "proto/imgc"), path.join(dir, "proto/imgc"), { recursive: true });
  const file = path.join(dir, "proto/imgc/v1/job.proto");
  const before = readFileSync(file, "utf8");
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(file, after);
  return dir;
}

async function check(workspace: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(repoRoot, "scripts/check-breaking.ts"), workspace],
      { cwd: repoRoot },
    );
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

describe("contract compatibility", () => {
  test("the contract in the repository is compatible with the released one", async () => {
    const result = await check(repoRoot);
    expect(result.output).toContain("compatible with the released one");
    expect(result.ok).toBe(true);
  });

  test("adding a field passes", async () => {
    const dir = contractWith((proto) =>
      proto.replace("message ItemResult {\n", "message ItemResult {\n  string added_for_the_test = 999;\n"),
    );
    expect(await check(dir)).toMatchObject({ ok: true });
  });

  test("deleting a field fails and names it", async () => {
    const dir = contractWith((proto) => proto.replace(/^ {2}string note = 22;$/m, ""));
    const result = await check(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/field "22" with name "note" on message "ItemResult" was deleted/);
    expect(result.output).toContain("npm run contract:release");
  });

  test("renumbering a field fails", async () => {
    const dir = contractWith((proto) => proto.replace(/^ {2}string note = 22;$/m, "  string note = 998;"));
    const result = await check(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('"note"');
  });
});
