export * from "./client";
export * from "./migrate";
export * from "./usage-query";
export * from "./trace-state-store";
export * from "./account-query";
export * from "./limit-counts-query";
export * from "./run-query";
export * from "./analyst-query";
