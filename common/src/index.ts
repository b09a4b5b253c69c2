export * from "./config.js";
export * from "./grpc.js";
export * from "./health-http.js";
export * from "./logger.js";
export * from "./metrics.js";
export * from "./nats.js";
export * from "./storage.js";
export * from "./trace.js";
