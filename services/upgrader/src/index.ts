export * from "./config";
export * from "./upgrader";
export * from "./trace-state-cache";
