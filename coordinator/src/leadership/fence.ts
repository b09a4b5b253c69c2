/**
 * The fence in front of every write a leader makes to shared state (job records, chunk dispatch records, the
 * task stream, job events). `check()` answers the writer's term, or throws `NotLeaderError` when this process
 * holds no valid lease: a deposed or paused leader stops before its write leaves. Job records also carry the
 * term that wrote them (`Job.leader_term`), and their compare-and-set refuses a record written by a later term,
 * which closes the gap between the check and the write.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LEADER_HEADER } from "@imgc/common";

export class NotLeaderError extends ConnectError {
  override name = "NotLeaderError";
  constructor(leaderAddress: string | undefined) {
    super(
      leaderAddress
        ? `this coordinator is not the leader; the leader is at ${leaderAddress}`
        : "this coordinator is not the leader, and no leader is elected yet; retry shortly",
      Code.Unavailable,
      leaderAddress ? { [LEADER_HEADER]: leaderAddress } : undefined,
    );
  }
}

export interface Fence {
  /** The term to write under; throws NotLeaderError when this process may not write. */
  check(): number;
}

/** No leadership at all (a store used alone in a unit test): every write passes, term 0. */
export const unfenced: Fence = { check: () => 0 };
