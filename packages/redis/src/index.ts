export * from "./redis-server";
export * from "./connect";
export * from "./limit-counters";
export * from "./run-trace-index";
export * from "./leader-lease";
