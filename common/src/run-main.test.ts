import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const fixture = path.join(import.meta.dirname, "testing", "service-process.ts");
const started = new Set<ChildProcess>();

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the service printed `text`. */
  printed(text: string): Promise<void>;
  exit: Promise<number | null>;
}

function run(mode: string): Run {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    env: { ...process.env, IMGC_TEST_SERVICE: mode },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  let stdout = "";
  let stderr = "";
  const waiting: Array<() => void> = [];
  child.stdout?.on("data", (part: Buffer) => {
    stdout += part.toString();
    for (const check of waiting) check();
  });
  child.stderr?.on("data", (part: Buffer) => {
    stderr += part.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    printed: (text) =>
      new Promise<void>((resolve, reject) => {
        const check = () => stdout.includes(text) && resolve();
        waiting.push(check);
        check();
        void exit.then(() => reject(new Error(`exited before printing ${text}: ${stdout}${stderr}`)));
      }),
  };
}

afterEach(() => {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL");
  started.clear();
});

describe("runMain", () => {
  it("prints a configuration's problems under the process's name and exits 2", async () => {
    const service = run("config");
    expect(await service.exit).toBe(2);
    expect(service.stderr()).toBe(
      'imgc test: Invalid configuration:\n  Expected integer between 1 and 64 for IMGC_X but received "0"\n',
    );
  });

  it("exits 1 with the stack when starting fails otherwise", async () => {
    const service = run("crash");
    expect(await service.exit).toBe(1);
    expect(service.stderr()).toMatch(/^imgc test: failed to start: Error: boom\n\s+at /);
  });

  it("closes on SIGTERM and exits 0", async () => {
    const service = run("plain");
    await service.printed("up");
    service.child.kill("SIGTERM");
    expect(await service.exit).toBe(0);
    expect(service.stdout()).toContain("closing");
    expect(service.stdout()).toContain('"msg":"stopped"');
  });

  it("hurries the close on a second signal, and still exits 0 once closed", async () => {
    const service = run("hurry");
    await service.printed("up");
    service.child.kill("SIGINT");
    await service.printed("closing");
    service.child.kill("SIGTERM");
    expect(await service.exit).toBe(0);
    expect(service.stdout()).toContain("hurried");
  });

  it("exits 1 at once on a second signal when the service cannot hurry", async () => {
    const service = run("slow");
    await service.printed("up");
    service.child.kill("SIGTERM");
    await service.printed("closing");
    service.child.kill("SIGTERM");
    expect(await service.exit).toBe(1);
    expect(service.stdout()).not.toContain('"msg":"stopped"');
  });

  it("exits past the close timeout when the close is stuck", async () => {
    const service = run("stuck");
    await service.printed("up");
    const signalled = Date.now();
    service.child.kill("SIGTERM");
    expect(await service.exit).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(300);
    expect(service.stdout()).toContain("stopping took too long");
  });

  it("closes and exits 0 when the service stops by itself", async () => {
    const service = run("ends");
    expect(await service.exit).toBe(0);
    expect(service.stdout()).toContain("closing");
    expect(service.stdout()).toContain('"msg":"stopped"');
  });

  it("exits 0 at once on a signal while the service is still starting", async () => {
    const service = run("starting");
    await service.printed("up");
    service.child.kill("SIGTERM");
    expect(await service.exit).toBe(0);
    expect(service.stdout()).not.toContain("closing");
  });
});
