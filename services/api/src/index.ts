export * from "./config";
export * from "./backend/contract";
export * from "./backend/over-http";
export * from "./intake/event-publisher";
export * from "./runtime";
export * from "./thread/api-thread";
export { RequestError } from "./http/request-error";
export * from "./backend/from-clickhouse";
