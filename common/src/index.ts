export * from "./config.js";
export * from "./grpc.js";
export * from "./logger.js";
export * from "./nats.js";
export * from "./storage.js";
