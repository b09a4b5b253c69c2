import { describe, expect, it } from "vitest";
import { createTerms } from "./terms.js";

/** A term that records its life; its start waits for `release` (or fails with `fail`). */
function fakeTerms() {
  const made: Array<{
    life: string[];
    release: () => void;
    fail: (err: Error) => void;
    start(): Promise<void>;
    stop(): Promise<void>;
  }> = [];
  const terms = createTerms(() => {
    let release = () => {};
    let fail = (_: Error) => {};
    const started = new Promise<void>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    const term = {
      life: [] as string[],
      release: () => release(),
      fail: (err: Error) => fail(err),
      async start() {
        term.life.push("start");
        await started;
        term.life.push("started");
      },
      async stop() {
        term.life.push("stop");
      },
    };
    made.push(term);
    return term;
  });
  return { terms, made };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("leadership terms", () => {
  it("leads with the elected term once it has started, not before", async () => {
    const { terms, made } = fakeTerms();
    const electing = terms.elected();
    await tick();
    expect(terms.current).toBe(made[1]);
    expect(terms.leading).toBe(false);
    made[1]?.release();
    await electing;
    expect(terms.leading).toBe(true);
    expect(made[1]?.life).toEqual(["start", "started"]);
  });

  it("a term that fails to start never answers again: an idle one takes its place", async () => {
    const { terms, made } = fakeTerms();
    const electing = terms.elected();
    await tick();
    made[1]?.fail(new Error("a bucket is unreachable"));
    await expect(electing).rejects.toThrow("a bucket is unreachable");
    expect(terms.leading).toBe(false);
    // The half-resumed term (its open jobs as they were) is gone; a fresh idle one answers reads.
    expect(terms.current).toBe(made[2]);
    expect(made[1]?.life).toEqual(["start", "stop"]);
  });

  it("a term deposed while it starts does not lead, and stops what its start began", async () => {
    const { terms, made } = fakeTerms();
    const electing = terms.elected();
    await tick();
    await terms.deposed();
    expect(terms.current).toBe(made[2]);
    made[1]?.release();
    await electing;
    expect(terms.leading).toBe(false);
    expect(terms.current).toBe(made[2]);
    // Stopped when deposed, and again after its start ended (whatever it started meanwhile).
    expect(made[1]?.life).toEqual(["start", "stop", "started", "stop"]);
  });

  it("elected again while the last election still starts: the older term stops, the newer leads", async () => {
    const { terms, made } = fakeTerms();
    const first = terms.elected();
    await tick();
    await terms.deposed();
    const second = terms.elected();
    await tick();
    made[3]?.release();
    await second;
    made[1]?.fail(new Error("late failure"));
    await expect(first).rejects.toThrow("late failure");
    // The first election's failure leaves the second term in place, leading.
    expect(terms.current).toBe(made[3]);
    expect(terms.leading).toBe(true);
  });
});
