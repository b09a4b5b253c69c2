import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { killChildrenOnSignals } from "../../scripts/lib/managed-process.js";

let runDir: string | undefined;
const used = new Map<string, number>();

/**
 * One temp folder per test process, holding every log, NATS store and S3 folder it starts. Kept after the
 * run so that logs can be read when a test fails; the OS cleans /tmp.
 */
export function testRunDir(): string {
  if (runDir === undefined) {
    runDir = mkdtempSync(path.join(os.tmpdir(), "imgc-test-"));
    // Everything the harness starts goes through here first: from now on a Ctrl-C takes the children along.
    killChildrenOnSignals();
  }
  return runDir;
}

function unique(name: string): string {
  const n = (used.get(name) ?? 0) + 1;
  used.set(name, n);
  return n === 1 ? name : `${name}-${n}`;
}

/** A fresh folder in the run folder: `scratchDir("nats")` → <run>/nats, then <run>/nats-2, … */
export function scratchDir(name: string): string {
  const dir = path.join(testRunDir(), unique(`dir:${name}`).slice(4));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A log file path no other process of this run uses: <run>/logs/worker-1.log, then worker-1-2.log, … */
export function logPath(name: string): string {
  return path.join(testRunDir(), "logs", `${unique(`log:${name}`).slice(4)}.log`);
}
