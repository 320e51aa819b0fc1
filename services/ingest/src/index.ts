export * from "./config";
export * from "./event-publisher";
export * from "./server";
export * from "./ingest-thread";
export * from "./ingest-runtime";
export * from "./account-cache";
export * from "./admission";
export * from "./authentication";
