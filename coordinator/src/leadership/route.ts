/**
 * Serves a ServiceImpl on every coordinator: the calls that change shared state go to this process's term only
 * while it leads, and a follower refuses them with `NotLeaderError` (Unavailable, the leader's address in
 * `x-imgc-leader`), which clients follow; the other calls only read shared state and are answered here.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

export interface RouteOptions {
  leaderOnly: readonly string[];
  isLeader(): boolean;
  notLeader(): Error;
}

export function routeToLeader<S extends DescService>(
  service: S,
  current: () => ServiceImpl<S>,
  options: RouteOptions,
): ServiceImpl<S> {
  const leaderOnly = new Set(options.leaderOnly);
  const routed: Record<string, unknown> = {};
  for (const method of service.methods) {
    const name = method.localName;
    const call = (request: unknown, context: unknown) => {
      const impl = current() as unknown as Record<string, (request: unknown, context: unknown) => unknown>;
      return (impl[name] as (request: unknown, context: unknown) => unknown).call(impl, request, context);
    };
    if (!leaderOnly.has(name)) {
      routed[name] = call;
    } else if (method.methodKind === "unary" || method.methodKind === "client_streaming") {
      routed[name] = async (request: unknown, context: unknown) => {
        if (!options.isLeader()) throw options.notLeader();
        return call(request, context);
      };
    } else {
      routed[name] = async function* (request: unknown, context: unknown) {
        if (!options.isLeader()) throw options.notLeader();
        yield* call(request, context) as AsyncIterable<unknown>;
      };
    }
  }
  return routed as ServiceImpl<S>;
}
