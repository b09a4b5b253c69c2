/**
 * The harness itself: what fault tests rely on (restart on the same address with the same data, kill, a
 * stop that always ends the process) must hold before any cluster test means anything.
 */
import net from "node:net";
import { connect, StringCodec } from "nats";
import { describe, expect, test } from "vitest";
import { freePort } from "../scripts/lib/free-port.js";
import { startProcess } from "../scripts/lib/managed-process.js";
import { logPath, startNats, startS3, storageFor } from "./harness/index.js";

function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("harness", () => {
  test("freePort gives a port that can be listened on", async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    expect((server.address() as net.AddressInfo).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });

  test("NATS keeps its JetStream data and address across a restart, and a kill ends it", async () => {
    const nats = await startNats();
    try {
      const sc = StringCodec();
      let nc = await connect({ servers: nats.url, ...nats.credentials() });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: "HARNESS", subjects: ["harness.>"] });
      await nc.jetstream().publish("harness.one", sc.encode("kept"));
      await nc.close();

      await nats.restart();
      nc = await connect({ servers: nats.url, ...nats.credentials() });
      const message = await (await nc.jetstreamManager()).streams.getMessage("HARNESS", { seq: 1 });
      expect(sc.decode(message.data)).toBe("kept");
      await nc.close();

      await nats.kill("SIGKILL");
      expect(await accepts(nats.url)).toBe(false);
      await nats.restart();
      expect(await accepts(nats.url)).toBe(true);
    } finally {
      await nats.stop();
    }
    expect(await accepts(nats.url)).toBe(false);
  });

  test("S3 serves the imgc bucket and keeps objects across kill and restart", async () => {
    const s3 = await startS3();
    try {
      const storage = storageFor(s3);
      await storage.putBuffer("uploads/default/x/a.txt", Buffer.from("hello"), "text/plain");
      await s3.kill("SIGKILL");
      await expect(storage.stat("uploads/default/x/a.txt")).rejects.toMatchObject({ kind: "unavailable" });
      await s3.restart();
      expect((await storage.getBuffer("uploads/default/x/a.txt")).toString()).toBe("hello");
    } finally {
      await s3.stop();
    }
    expect(await accepts(s3.url)).toBe(false);
  });

  test("stop escalates to SIGKILL when a process ignores SIGTERM, and logs land in the log file", async () => {
    const logFile = logPath("stubborn");
    const proc = startProcess({
      name: "stubborn",
      command: process.execPath,
      args: [
        "-e",
        "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000)",
      ],
      logFile,
    });
    await proc.waitForLine((line) => line === "up", "say up", 10_000);
    const started = Date.now();
    const exit = await proc.stop(500);
    expect(exit.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(proc.running()).toBe(false);
    expect(() => process.kill(proc.pid, 0)).toThrow();
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(logFile, "utf8")).toContain("ignored");
  });

  test("waiting for a line that never comes names the log file", async () => {
    const logFile = logPath("quitter");
    const proc = startProcess({
      name: "quitter",
      command: process.execPath,
      args: ["-e", "console.error('boom'); process.exit(3)"],
      logFile,
    });
    await expect(proc.waitForLine(() => false, "get ready", 10_000)).rejects.toThrow(
      new RegExp(`exited \\(code 3.*${logFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\\s\\S]*boom`),
    );
  });
});
