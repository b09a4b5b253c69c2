import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { ClusterService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createFailoverTransport, LEADER_HEADER } from "./failover-transport.js";

/** Three coordinators in memory: `dead` cannot be reached, `follower` names `leader`, `leader` answers. */
function coordinators(options: { electing?: () => boolean } = {}) {
  const calls: string[] = [];
  const byAddress: Record<string, Transport> = {
    dead: createRouterTransport(({ service }) =>
      service(ClusterService, {
        listWorkers() {
          calls.push("dead");
          throw new ConnectError("connect ECONNREFUSED", Code.Unavailable);
        },
      }),
    ),
    follower: createRouterTransport(({ service }) =>
      service(ClusterService, {
        listWorkers() {
          calls.push("follower");
          // While an election runs, a follower knows no leader yet: it says so with an empty hint.
          const hint = options.electing?.() ? "" : "leader";
          throw new ConnectError("not the leader", Code.Unavailable, { [LEADER_HEADER]: hint });
        },
      }),
    ),
    leader: createRouterTransport(({ service }) =>
      service(ClusterService, {
        listWorkers() {
          calls.push("leader");
          return { workers: [] };
        },
        getQueueStats() {
          throw new ConnectError("bad request", Code.InvalidArgument);
        },
      }),
    ),
  };
  return { calls, transportFor: (address: string) => byAddress[address] as Transport };
}

describe("the failover transport", () => {
  test("skips a dead coordinator, follows a follower's hint to the leader, then calls the leader directly", async () => {
    const { calls, transportFor } = coordinators();
    const switches: string[] = [];
    const transport = createFailoverTransport({
      addresses: ["dead", "follower"],
      transportFor,
      onSwitch: (from, to) => switches.push(`${from}→${to}`),
    });
    const client = createClient(ClusterService, transport);
    await client.listWorkers({});
    expect(calls).toEqual(["dead", "follower", "leader"]);
    expect(switches).toEqual(["dead→follower", "follower→leader"]);
    calls.length = 0;
    await client.listWorkers({});
    expect(calls).toEqual(["leader"]);
    expect(transport.current).toBe("leader");
  });

  test("waits at a live follower while it elects, instead of moving on to a dead one", async () => {
    let electing = true;
    const { calls, transportFor } = coordinators({ electing: () => electing });
    const client = createClient(
      ClusterService,
      createFailoverTransport({ addresses: ["follower", "dead"], transportFor }),
    );
    setTimeout(() => {
      electing = false;
    }, 300);
    await client.listWorkers({});
    expect(calls.at(-1)).toBe("leader");
    expect(calls).not.toContain("dead");
    expect(calls.filter((c) => c === "follower").length).toBeGreaterThan(1);
  });

  test("gives up after the failover time, and passes every other error through at once", async () => {
    const { calls, transportFor } = coordinators();
    const client = createClient(
      ClusterService,
      createFailoverTransport({ addresses: ["dead"], transportFor, failoverMs: 200 }),
    );
    const err = await client.listWorkers({}).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect(calls.length).toBeGreaterThan(1);
    const direct = createClient(ClusterService, createFailoverTransport({ addresses: ["leader"], transportFor }));
    const bad = await direct.getQueueStats({}).catch((e: unknown) => ConnectError.from(e));
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
  });

  test("refuses an empty list with the house message", () => {
    expect(() => createFailoverTransport({ addresses: [], transportFor: () => ({}) as Transport })).toThrow(
      "Expected at least one coordinator address but received none",
    );
  });
});
