// What every benchmark result records about its run, so a figure can be traced to a commit, a machine and a command.
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import sharp from "sharp";

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
    command:
      `npm run ${process.env.npm_lifecycle_event ?? `node ${process.argv.slice(1).join(" ")}`}${process.env.npm_lifecycle_event ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`.trim(),
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
