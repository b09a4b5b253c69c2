import { createLogger } from "@imgc/common";
import type { NatsConnection } from "nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import { eventually } from "../testing/harness.js";
import { createLease, type Lease } from "./lease.js";

const log = createLogger("lease-test", process.env.IMGC_TEST_LOG ?? "silent");
const LEASE_MS = 1_000;

let nats: TestNats;
const connections: NatsConnection[] = [];
const leases: Lease[] = [];

beforeEach(async () => {
  nats = await startTestNats();
});
afterEach(async () => {
  for (const lease of leases.splice(0)) await lease.close().catch(() => undefined);
  for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
  await nats.stop();
});

/**
 * A coordinator's lease on its own connection, recording when it was elected, leading and deposed; taking over
 * (its onElected) lasts `takeOverMs`.
 */
async function candidate(id: string, leaseMs = LEASE_MS, takeOverMs = 0) {
  const nc = await nats.connect();
  connections.push(nc);
  const events: string[] = [];
  const lease = createLease({
    nc,
    id,
    address: () => `${id}:50051`,
    leaseMs,
    log,
    onElected: async (term) => {
      events.push(`elected ${term}`);
      await new Promise((resolve) => setTimeout(resolve, takeOverMs));
      events.push(`leading ${term}`);
    },
    onDeposed: async (term) => void events.push(`deposed ${term}`),
  });
  leases.push(lease);
  const started = lease.start();
  // A quick candidate is returned started; a slow one while it may still take over.
  if (takeOverMs === 0) await started;
  return { nc, lease, events, started };
}

describe("leadership", () => {
  it("elects exactly one; the others know who leads and where", async () => {
    const a = await candidate("a");
    const b = await candidate("b");
    expect(a.lease.valid()).toBe(true);
    expect(b.lease.valid()).toBe(false);
    expect(b.lease.term).toBe(0);
    expect(b.lease.leader()).toMatchObject({ id: "a", address: "a:50051", term: a.lease.term });
    // Renewals keep it: several leases later, still one leader, still the same term.
    const term = a.lease.term;
    await new Promise((resolve) => setTimeout(resolve, 3 * LEASE_MS));
    expect([a.lease.valid(), b.lease.valid()]).toEqual([true, false]);
    expect(a.lease.term).toBe(term);
    expect(b.events).toEqual([]);
  });

  it("hands over at once when the leader steps down, under a higher term", async () => {
    // A long lease: a handover well within it can only come from the deleted key, not from its expiry.
    const long = 20_000;
    const a = await candidate("a", long);
    const b = await candidate("b", long);
    const first = a.lease.term;
    await a.lease.close();
    await eventually(async () => b.lease.valid(), long / 2);
    expect(b.lease.term).toBeGreaterThan(first);
    expect(a.events).toEqual([`elected ${first}`, `leading ${first}`, `deposed ${first}`]);
  });

  it("replaces a leader that stops renewing once its lease runs out, and that leader knows it is deposed", async () => {
    const a = await candidate("a");
    const b = await candidate("b");
    const first = a.lease.term;
    // A cut off from NATS (its connection gone): it can no longer renew, nor delete its key.
    await a.nc.close();
    await eventually(async () => b.lease.valid(), 4 * LEASE_MS);
    expect(b.lease.term).toBeGreaterThan(first);
    // By its own clock, A's lease ran out: it may not write any more.
    expect(a.lease.valid()).toBe(false);
    expect(a.lease.term).toBe(0);
    await eventually(async () => a.events.includes(`deposed ${first}`), 2 * LEASE_MS);
  });

  it("keeps the lease while taking over lasts several leases (a new leader resuming many jobs)", async () => {
    const a = await candidate("a", LEASE_MS, 3 * LEASE_MS);
    await eventually(async () => a.events.length > 0, LEASE_MS);
    const term = a.lease.term;
    expect(a.events).toEqual([`elected ${term}`]);
    const b = await candidate("b");
    await b.started;
    await a.started;
    // Renewed all along: B never got the key, and A leads under the term it was elected with.
    expect(a.events).toEqual([`elected ${term}`, `leading ${term}`]);
    expect([a.lease.valid(), b.lease.valid()]).toEqual([true, false]);
    expect(b.events).toEqual([]);
    expect(b.lease.leader()?.id).toBe("a");
  });
});
