// What every benchmark result records about its run, so a figure can be traced to a commit, a machine and a command.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import sharp from "sharp";

// The command line as a shell would take it back: arguments with spaces quoted.
const command = (): string => {
  const quote = (a: string) => (/[\s"'$]/.test(a) ? `'${a.replaceAll("'", "'\\''")}'` : a);
  const args = process.argv.slice(2).map(quote).join(" ");
  const script = process.env.npm_lifecycle_event;
  return script
    ? `npm run ${script}${args ? ` -- ${args}` : ""}`
    : `node ${process.argv.slice(1).map(quote).join(" ")}`;
};

export const runInfo = () => {
  const git = (...args: string[]) => {
    try {
      return execFileSync("git", args, { encoding: "utf8" }).trim();
    } catch {
      return "unknown";
    }
  };
  return {
    date: new Date().toISOString(),
    commit: git("rev-parse", "HEAD"),
    dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
    command: command(),
    machine: {
      cores: cpus().length,
      model: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
      node: process.version,
      sharp: sharp.versions.sharp,
      vips: sharp.versions.vips,
    },
  };
};

/** The engine's limits in the benchmarks: none that a corpus photo could reach. */
export const benchLimits = { maxInputBytes: 1e9, maxPixels: 1e9, maxFrames: 1000, timeoutMs: 600_000 };

/** Every file of the corpus folder, by name; with `quick`, the four smallest (for a shared machine). */
export function photoCorpus(dir: string, quick: boolean): { name: string; data: Buffer }[] {
  const all = readdirSync(dir)
    .sort()
    .map((name) => ({ name, data: readFileSync(new URL(name, `file://${dir}`)) }));
  return quick ? all.toSorted((a, b) => a.data.length - b.data.length).slice(0, 4) : all;
}
