// What every benchmark result records about its run, so a figure can be traced to a commit, a machine and a command.
import { execFileSync } from "node:child_process";
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
