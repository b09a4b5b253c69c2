/**
 * The one shape every benchmark keeps its results in (bench/results/<name>.json), so that the tables of
 * docs/benchmarks.md are generated from kept files (`npm run bench:docs`) and never typed. A figure in the docs
 * is only as good as what it can be traced to: the exact command, the commit, the machine and the date travel
 * with it.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import path from "node:path";

/** One row of a generated table: what was measured, imgc's value, its baseline, their ratio, the goal. */
export interface Figure {
  figure: string;
  value: string;
  baseline?: string;
  ratio?: string;
  /** The goal and whether it was met, e.g. "≥ 0.85 ✔". */
  goal?: string;
}

export interface Machine {
  cores: number;
  model: string;
  memoryGiB: number;
  /** 1, 5 and 15 minute load averages when the run began, and when it ended. */
  loadAverage: { start: number[]; end: number[] };
  node: string;
  [more: string]: unknown;
}

export interface BenchResults {
  /** The file's name without .json: cluster, upload, quality, engine. */
  bench: string;
  /** The exact command that produced the file, runnable from the repository root. */
  command: string;
  /** ISO time the run ended. */
  date: string;
  /** `git rev-parse HEAD`, with "-dirty" when tracked files outside bench/results differed from it. */
  commit: string;
  machine: Machine;
  /** The run's options after defaults (rounds, repeats, sizes…). */
  options: Record<string, unknown>;
  /** The rows the docs show, in order. */
  figures: Figure[];
  /** Anything further the docs may cite, and every raw sample. */
  details: Record<string, unknown>;
}

export const resultsDir = new URL("../results/", import.meta.url);
const repoRoot = new URL("../../", import.meta.url).pathname;

/** The command line that reproduces this run: the npm script, with the arguments it was given. */
export function commandOf(script: string, argv: readonly string[] = process.argv.slice(2)): string {
  const args = argv.map((arg) => (/^[\w.,=:/-]+$/.test(arg) ? arg : JSON.stringify(arg)));
  return args.length > 0 ? `npm run ${script} -- ${args.join(" ")}` : `npm run ${script}`;
}

/**
 * The commit checked out, marked dirty when tracked files (other than kept results) differ from it. A copy of
 * the tree run on another machine may carry no .git, or an older one: whoever copied it names the commit it was
 * copied from in IMGC_BENCH_COMMIT.
 */
export function currentCommit(): string {
  if (process.env.IMGC_BENCH_COMMIT) return `${process.env.IMGC_BENCH_COMMIT} (a copy of it)`;
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repoRoot, encoding: "utf8" }).trim();
    const head = git("rev-parse", "HEAD");
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")
      .split("\n")
      .some((line) => line.trim() !== "");
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown (not a git checkout)";
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** The machine as the run found it; call at the start, and pass the result to writeResults. */
export function machineNow(extra: Record<string, unknown> = {}): Machine {
  return {
    cores: availableParallelism(),
    model: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    loadAverage: { start: loadavg().map(round2), end: [] },
    node: process.version,
    ...extra,
  };
}

/** Taken when the benchmark starts: the code that ran, not what the checkout became meanwhile. */
export const commitAtStart = currentCommit();

/** Writes bench/results/<bench>.json in the shared shape; returns its path. */
export function writeResults(results: Omit<BenchResults, "date" | "commit">): string {
  const file = path.join(resultsDir.pathname, `${results.bench}.json`);
  const kept: BenchResults = {
    bench: results.bench,
    command: results.command,
    date: new Date().toISOString(),
    commit: commitAtStart,
    machine: { ...results.machine, loadAverage: { ...results.machine.loadAverage, end: loadavg().map(round2) } },
    options: results.options,
    figures: results.figures,
    details: results.details,
  };
  writeFileSync(file, `${JSON.stringify(kept, null, 2)}\n`);
  return file;
}

/** "≥ 0.85 ✔" or "≥ 0.85 ✘", for a ratio held to a floor. */
export const goalMet = (ratio: number, floor: number) => `≥ ${floor} ${ratio >= floor ? "✔" : "✘"}`;
