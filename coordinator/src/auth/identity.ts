/**
 * The verified caller of an RPC, as the authorization wrapper (authorize.ts) leaves it for the handlers in
 * Connect's per-call context values. Context values cannot be set by anything the caller sends, so a caller
 * cannot inject an identity or a tenant; the handlers read them only from here (tenant.ts).
 */
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Role } from "@imgc/common";

export interface Identity {
  /** `insecure`: IMGC_INSECURE_INTERNAL=1 and no token verified (a development cluster). */
  role: Role | "insecure";
  /** The worker id or service name from the token. */
  sub: string;
  /** The tenant this call acts for (JobService calls); undefined for cluster calls. */
  tenant: string | undefined;
}

const identityKey = createContextKey<Identity | undefined>(undefined, { description: "imgc verified caller" });

export function setIdentity(context: HandlerContext, identity: Identity): void {
  context.values.set(identityKey, identity);
}

/** The verified caller; an RPC that did not pass the authorization wrapper has none and is refused. */
export function identityOf(context: HandlerContext): Identity {
  const identity = context.values.get(identityKey);
  if (!identity) throw new ConnectError("unauthenticated", Code.Unauthenticated);
  return identity;
}
