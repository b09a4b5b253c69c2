/**
 * The fence in front of every write a leader makes to shared state (job records, chunk dispatch records, the
 * task stream, job events). `check()` answers the writer's term, or throws `NotLeaderError` when this process
 * holds no valid lease: a deposed or paused leader stops before its write leaves. Job records also carry the
 * term that wrote them (`Job.leader_term`), and their compare-and-set refuses a record written by a later term,
 * which closes the gap between the check and the write.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LEADER_HEADER, leaderHint } from "@imgc/common";

// No `name` of its own: ConnectError's instanceof checks the name, and the gRPC bridge must see a ConnectError.
export class NotLeaderError extends ConnectError {
  constructor(leaderAddress: string | undefined) {
    super(
      leaderAddress
        ? `this coordinator is not the leader; the leader is at ${leaderAddress}`
        : "this coordinator is not the leader, and no leader is elected yet; retry shortly",
      Code.Unavailable,
      // Always present: empty means "alive, but no leader is known yet" (a client should ask here again).
      { [LEADER_HEADER]: leaderAddress ?? "" },
    );
  }
}

export interface Fence {
  /** The term to write under; throws NotLeaderError when this process may not write. */
  check(): number;
}

/** A refusal for not leading (this process's own, or a follower's answer). */
export function isNotLeader(err: unknown): boolean {
  return leaderHint(err) !== undefined;
}

/** No leadership at all (a store used alone in a unit test): every write passes, term 0. */
export const unfenced: Fence = { check: () => 0 };
