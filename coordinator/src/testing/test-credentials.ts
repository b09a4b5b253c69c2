/**
 * A throwaway signing key for in-process tests, and a client interceptor that sends, for each call, the
 * token its real caller would hold: a worker's own token for ClaimChunk/ReportItem(s)/CompleteChunk (subject =
 * the request's worker id), an operator's for the other cluster calls, a gateway's for JobService (so
 * `x-imgc-tenant` is honoured, as from the gateway).
 */
import type { Interceptor } from "@connectrpc/connect";
import { createTokenVerifier, generateSigningKeys, type MintOptions, mintToken, type Role } from "@imgc/common";
import { WORKER_METHODS } from "../auth/policy.js";

export function testCredentials() {
  const keys = generateSigningKeys();
  const verifier = createTokenVerifier(keys.publicKey);
  const minted = new Map<string, string>();
  const mint = (options: MintOptions) => mintToken(keys.privateKey, options);
  const tokenFor = (role: Role, sub: string) => {
    const key = `${role}/${sub}`;
    let token = minted.get(key);
    if (token === undefined) {
      token = mint({ role, sub });
      minted.set(key, token);
    }
    return token;
  };
  const asRealCaller: Interceptor = (next) => (request) => {
    if (!request.header.has("authorization")) {
      const method = request.method.localName;
      const workerId = (request as { message?: { workerId?: unknown } }).message?.workerId;
      const token =
        request.service.typeName === "imgc.v1.JobService"
          ? tokenFor("gateway", "gateway")
          : WORKER_METHODS.has(method) && typeof workerId === "string" && workerId !== ""
            ? tokenFor("worker", workerId)
            : tokenFor("operator", "operator");
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
  return { keys, verifier, mint, asRealCaller };
}
