export * from "./schemas";
export * from "./validation";
export * from "./ndjson";
export * from "./keys";
export * from "./account-schemas";
export * from "./billing-schemas";
export * from "./catalogue-schema";
export * from "./json-depth";
