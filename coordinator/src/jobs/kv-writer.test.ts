import { type KV, type NatsConnection, StorageType } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import { isRevisionConflict } from "./kv.js";
import { createKvWriter, KvWriteError, type KvWriter, withKvWriter } from "./kv-writer.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => new TextDecoder().decode(data);

describe("the pipelined KV writer, against nats-server", () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let plain: KV;
  let kv: KV;
  let writer: KvWriter;

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await nats.connect();
    plain = await nc.jetstream().views.kv("writer-test", { history: 1, storage: StorageType.Memory });
    writer = createKvWriter(nc, { timeoutMs: 300 });
    kv = withKvWriter(plain, "writer-test", writer);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("creates a key once: the value and revision read back, a second create is a revision conflict", async () => {
    const revision = await kv.create("job1.1", bytes("first"));
    const entry = await plain.get("job1.1");
    expect(entry?.revision).toBe(revision);
    expect(text(entry?.value)).toBe("first");
    const again = await kv.create("job1.1", bytes("second")).catch((err: unknown) => err);
    expect(isRevisionConflict(again)).toBe(true);
    expect(text((await plain.get("job1.1"))?.value)).toBe("first");
  });

  it("updates at the key's revision, and refuses a stale one with the server's conflict", async () => {
    const first = await kv.create("job1.2", bytes("a"));
    const second = await kv.update("job1.2", bytes("b"), first);
    expect(second).toBeGreaterThan(first);
    const stale = await kv.update("job1.2", bytes("c"), first).catch((err: unknown) => err);
    expect(stale).toBeInstanceOf(KvWriteError);
    expect((stale as KvWriteError).errCode).toBe(10071);
    expect(isRevisionConflict(stale)).toBe(true);
    expect(text((await plain.get("job1.2"))?.value)).toBe("b");
  });

  it("creates over a deleted key's marker (through the library's create)", async () => {
    await kv.create("job1.3", bytes("old"));
    await plain.delete("job1.3");
    const revision = await kv.create("job1.3", bytes("new"));
    const entry = await plain.get("job1.3");
    expect(entry?.operation).toBe("PUT");
    expect(entry?.revision).toBe(revision);
    expect(text(entry?.value)).toBe("new");
  });

  it("answers each of a thousand writes in flight at once with its own revision", async () => {
    const revisions = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => kv.create(`job2.${i}`, bytes(String(i)))),
    );
    expect(new Set(revisions).size).toBe(1000);
    for (const i of [0, 499, 999]) {
      const entry = await plain.get(`job2.${i}`);
      expect(entry?.revision).toBe(revisions[i]);
      expect(text(entry?.value)).toBe(String(i));
    }
  });

  it("fails a write to a bucket that has no stream as no responders", async () => {
    const err = await writer.write("no-such-bucket", "k", bytes("x"), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvWriteError);
    expect((err as KvWriteError).code).toBe(503);
  });

  it("fails a write that nothing acknowledges once its time is up, and goes on writing", async () => {
    // A subscriber where a stream would be: it takes the write and never answers.
    const silent = nc.subscribe("$KV.silent.>");
    const started = Date.now();
    const err = await writer.write("silent", "k", bytes("x"), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvWriteError);
    expect((err as KvWriteError).code).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    silent.unsubscribe();
    // The writer still works after a timeout.
    expect(await kv.create("job3.1", bytes("after"))).toBeGreaterThan(0);
  });

  it("fails the writes still waiting when the connection closes, and refuses new ones", async () => {
    const own = await nats.connect();
    const ownWriter = createKvWriter(own, { timeoutMs: 60_000 });
    own.subscribe("$KV.silent2.>");
    const waiting = ownWriter.write("silent2", "k", bytes("x"), 0).catch((e: unknown) => e);
    await own.flush();
    await own.close();
    const err = await waiting;
    expect(err).toBeInstanceOf(KvWriteError);
    expect((err as KvWriteError).message).toMatch(/closed/);
    await expect(ownWriter.write("writer-test", "k", bytes("x"), 0)).rejects.toThrow(/closed/);
  });
});
