export * from "./config";
export * from "./event-publisher";
export * from "./server";
export * from "./ingest-thread";
