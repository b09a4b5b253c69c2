// bench:detect's baseline: the plain detection loop (what an engine child does per image, with nothing around
// it), in as many processes as the detection worker has slots, all at once, each over its share of the images.
// One loop alone on an otherwise idle machine would have a core, its caches and its turbo to itself, which no
// slot of a busy worker has: the baseline runs with the cluster's parallelism, so that "per core" means the same
// on both sides.
//
// Run as a child (`--loop`), this file loads the model, warms up over the images, says "ready", then runs its
// share at each "go" and answers with the run.
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { DetectionOptionsSchema } from "@imgc/proto";
import sharp from "sharp";
import { createDetector } from "../../worker/src/detect/detector.js";
import { loadModel } from "../../worker/src/detect/model.js";

export interface LoopRun {
  images: number;
  objects: number;
  wallSeconds: number;
  cpuSeconds: number;
}

const MiB = 1024 * 1024;
const limits = { maxInputBytes: 64 * MiB, maxPixels: 100_000_000, maxFrames: 500, timeoutMs: 60_000 };

type ToChild = { go: true } | { exit: true };
type FromChild = { ready: true; peakRssBytes: number } | { run: LoopRun };

/** `count` loop processes, `vipsThreads` libvips threads each, sharing `files` round-robin. */
export async function startLoops(files: readonly string[], count: number, vipsThreads: number) {
  const children: ChildProcess[] = [];
  const next: Array<(message: FromChild) => void> = [];
  const answer = (at: number) =>
    new Promise<FromChild>((resolve, reject) => {
      const child = children[at] as ChildProcess;
      const onExit = (code: number | null) => reject(new Error(`a detection loop exited (${code}) mid-run`));
      child.once("exit", onExit);
      next[at] = (message) => {
        child.off("exit", onExit);
        resolve(message);
      };
    });
  for (let at = 0; at < count; at++) {
    const share = files.filter((_, i) => i % count === at);
    const child = fork(fileURLToPath(import.meta.url), ["--loop", String(vipsThreads), ...share], {
      execArgv: process.execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.on("message", (message: FromChild) => next[at]?.(message));
    children.push(child);
  }
  const ready = await Promise.all(children.map((_, at) => answer(at)));
  const send = (message: ToChild) => {
    for (const child of children) child.send(message);
  };
  return {
    pids: children.map((child) => child.pid as number),
    /** Each loop's peak resident memory once its model is loaded and warm. */
    peakRssBytes: ready.map((m) => ("ready" in m ? m.peakRssBytes : 0)),
    /** One round: every loop over its share at once; wall time until the last ends, CPU of them all. */
    async run(): Promise<LoopRun> {
      const started = performance.now();
      const runs = Promise.all(children.map((_, at) => answer(at)));
      send({ go: true });
      const done = (await runs).flatMap((m) => ("run" in m ? [m.run] : []));
      return {
        images: done.reduce((sum, r) => sum + r.images, 0),
        objects: done.reduce((sum, r) => sum + r.objects, 0),
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds: done.reduce((sum, r) => sum + r.cpuSeconds, 0),
      };
    },
    stop() {
      send({ exit: true });
    },
  };
}

async function child(vipsThreads: number, files: string[]): Promise<void> {
  sharp.concurrency(vipsThreads);
  const send = (message: FromChild) => process.send?.(message);
  const options = create(DetectionOptionsSchema);
  const detector = createDetector(await loadModel());
  const bytes = files.map((file) => readFileSync(file));
  const pass = async () => {
    let objects = 0;
    for (const input of bytes) objects += (await detector.detect(input, options, limits)).objects.length;
    return objects;
  };
  await pass();
  send({ ready: true, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
  process.on("message", async (message: ToChild) => {
    if ("exit" in message) process.exit(0);
    const cpu = process.cpuUsage();
    const started = performance.now();
    const objects = await pass();
    const used = process.cpuUsage(cpu);
    send({
      run: {
        images: bytes.length,
        objects,
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds: (used.user + used.system) / 1e6,
      },
    });
  });
}

if (process.argv[2] === "--loop") {
  const [threads, ...files] = process.argv.slice(3);
  await child(Number(threads), files);
}
