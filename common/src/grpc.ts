/**
 * The bridge between protobuf-es service descriptors and @grpc/grpc-js.
 *
 * Services are written once as Connect `ServiceImpl`s (plain async functions that throw `ConnectError`), so
 * the same implementation runs in memory under `createRouterTransport` in unit tests, and on a grpc-js
 * server in production. Connect's `Code` numbers are gRPC's status codes, so errors map one to one; any
 * other error becomes INTERNAL with no detail leaked to the caller.
 */
import { once } from "node:events";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Code, ConnectError, createHandlerContext, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { createLeaderTracker, leaderHint, parseAddresses } from "./failover-transport.js";
import type { Logger } from "./logger.js";

/**
 * The largest request message any imgc server reads (the coordinator's gRPC port and both gateway ports): one
 * limit, so that a request the gateway takes is never refused by the coordinator behind it (a SubmitJob of
 * 10,000 sources with long keys, or an inline manifest, fits; larger is ResourceExhausted everywhere).
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

function serializer(schema: DescMessage) {
  return (message: unknown) => Buffer.from(toBinary(schema, message as MessageShape<DescMessage>));
}

function deserializer(schema: DescMessage) {
  return (bytes: Buffer) => fromBinary(schema, bytes);
}

export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition as grpc.ServiceDefinition;
}

type ServerCall =
  | grpc.ServerUnaryCall<unknown, unknown>
  | grpc.ServerReadableStream<unknown, unknown>
  | grpc.ServerWritableStream<unknown, unknown>;

function headersOf(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers.set(key, value);
  }
  return headers;
}

/**
 * The Connect context of a grpc-js call. Its signal aborts when the caller cancels or the deadline passes: grpc-js
 * enforces the deadline itself and then closes the call, so no timer of ours runs per call (Connect's own would
 * outlive every call by its whole deadline). `answered` is called once the call has its answer: grpc-js reports
 * the stream's close after that as a cancellation, which it no longer is.
 */
function contextFor(
  service: DescService,
  method: DescMethod,
  call: ServerCall,
): { context: HandlerContext; answered(): void } {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  let done = false;
  (call as grpc.ServerUnaryCall<unknown, unknown>).on("cancelled", () => {
    if (done) return;
    controller.abort(
      Date.now() >= deadlineMs
        ? new ConnectError("the call's deadline passed", Code.DeadlineExceeded)
        : new ConnectError("the client cancelled the call", Code.Canceled),
    );
  });
  const context = createHandlerContext({
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: call.getPath(),
    requestSignal: controller.signal,
    requestHeader: headersOf(call.metadata),
  });
  const timeoutMs = Number.isFinite(deadlineMs) ? () => deadlineMs - Date.now() : context.timeoutMs;
  return {
    context: { ...context, timeoutMs },
    answered: () => {
      done = true;
    },
  };
}

export function toGrpcError(err: unknown, log: Logger, path: string): Partial<grpc.StatusObject> {
  if (err instanceof ConnectError) {
    if (err.code === Code.Internal || err.code === Code.Unknown) log.error({ err, path }, "rpc failed");
    const status: Partial<grpc.StatusObject> = { code: err.code as number as grpc.status, details: err.rawMessage };
    // Error metadata travels as trailers (a follower names the leader this way).
    const entries = [...err.metadata.entries()];
    if (entries.length > 0) {
      const trailers = new grpc.Metadata();
      for (const [key, value] of entries) trailers.set(key, value);
      status.metadata = trailers;
    }
    return status;
  }
  log.error({ err, path }, "rpc failed with an unexpected error");
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

/** Adapts a Connect ServiceImpl to a grpc-js UntypedServiceImplementation. */
export function grpcImplementation<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  log: Logger,
): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, unknown>)[method.localName] as
      | ((request: unknown, context: HandlerContext) => unknown)
      | undefined;
    if (!fn) continue;
    const respond = (init: unknown) => create(method.output, init as MessageInitShape<DescMessage>);
    switch (method.methodKind) {
      case "unary":
      case "client_streaming": {
        // One answer either way: the request is the message, or the stream of them.
        const requestOf = (
          call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>,
        ) => (method.methodKind === "unary" ? (call as grpc.ServerUnaryCall<unknown, unknown>).request : call);
        handlers[method.localName] = (
          call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          const { context, answered } = contextFor(service, method, call);
          Promise.resolve()
            .then(() => fn.call(impl, requestOf(call), context))
            .finally(answered)
            .then(
              (response) => callback(null, respond(response)),
              (err: unknown) => callback(toGrpcError(err, log, call.getPath())),
            );
        };
        break;
      }
      case "server_streaming":
        handlers[method.localName] = async (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const { context, answered } = contextFor(service, method, call);
          try {
            const responses = fn.call(impl, call.request, context) as AsyncIterable<unknown>;
            for await (const response of responses) {
              if (call.cancelled) return;
              if (!call.write(respond(response))) await once(call, "drain");
            }
            answered();
            call.end();
          } catch (err) {
            answered();
            if (!call.cancelled) call.emit("error", toGrpcError(err, log, call.getPath()));
          }
        };
        break;
      case "bidi_streaming":
        throw new Error(`${service.typeName}.${method.name}: bidi streaming is not bridged`);
    }
  }
  return handlers;
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => void;

export interface UnaryCallOptions {
  /** Milliseconds before the call fails with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** A promise-returning grpc-js client for the unary methods of a protobuf-es service. */
export type GrpcJsClient<S extends GenService<GenServiceMethods>> = {
  [K in keyof S["method"]]: S["method"][K] extends { methodKind: "unary"; input: infer I; output: infer O }
    ? I extends DescMessage
      ? O extends DescMessage
        ? (request: MessageInitShape<I>, options?: UnaryCallOptions) => Promise<MessageShape<O>>
        : never
      : never
    : never;
} & { close(): void };

/**
 * `address` may list several coordinators, comma-separated: calls go to the one that answered last, follow a
 * follower's `x-imgc-leader` at once, and move to the next address after an Unavailable (the caller's retry then
 * reaches it).
 */
export function createGrpcJsClient<S extends GenService<GenServiceMethods>>(
  service: S,
  address: string,
  // Client options: channel settings, and interceptors (internalGrpcOptions adds the caller's token).
  channelOptions: grpc.ClientOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): GrpcJsClient<S> {
  const Constructor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
  const clients = new Map<string, grpc.Client>();
  const clientFor = (target: string) => {
    let client = clients.get(target);
    if (!client) {
      client = new Constructor(target, credentials, { "grpc.keepalive_time_ms": 10_000, ...channelOptions });
      clients.set(target, client);
    }
    return client;
  };
  const tracker = createLeaderTracker(parseAddresses(address));
  const out: Record<string, unknown> = {
    close: () => {
      for (const client of clients.values()) client.close();
    },
  };
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const once = (target: string, request: MessageInitShape<DescMessage>, options: UnaryCallOptions) =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
        const callOptions: grpc.CallOptions = options.timeoutMs ? { deadline: Date.now() + options.timeoutMs } : {};
        const client = clientFor(target);
        const fn = (client as unknown as Record<string, UnaryMethod>)[method.localName];
        fn?.call(client, create(method.input, request), metadata, callOptions, (err, res: unknown) => {
          if (err)
            reject(new ConnectError(err.details || err.message, err.code as number as Code, headersOf(err.metadata)));
          else resolve(res);
        });
      });
    out[method.localName] = async (request: MessageInitShape<DescMessage>, options: UnaryCallOptions = {}) => {
      const target = tracker.current;
      try {
        return await once(target, request, options);
      } catch (err) {
        // A follower named the leader: ask it straight away (anything else is the caller's to retry).
        if (!tracker.moveOn(target, err) || !leaderHint(err)) throw err;
        return once(tracker.current, request, options);
      }
    };
  }
  return out as GrpcJsClient<S>;
}
