/**
 * How callers of the coordinator send their internal token: `authorization: Bearer <token>` on every call,
 * as grpc-js metadata (worker) or a Connect header (gateway, CLI). With no token (IMGC_INSECURE_INTERNAL=1)
 * nothing is added.
 */
import type { Interceptor } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";

export const AUTHORIZATION = "authorization";

/** grpc-js client options that add the token to each call's metadata. */
export function internalGrpcOptions(token: string | undefined): grpc.ClientOptions {
  if (token === undefined) return {};
  const interceptor: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(AUTHORIZATION, `Bearer ${token}`);
        next(metadata, listener);
      },
    });
  return { interceptors: [interceptor] };
}

/** A Connect interceptor that adds the token to each request. */
export function internalBearer(token: string | undefined): Interceptor[] {
  if (token === undefined) return [];
  return [
    (next) => (request) => {
      request.header.set(AUTHORIZATION, `Bearer ${token}`);
      return next(request);
    },
  ];
}
