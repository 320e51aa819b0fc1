export * from "./config";
export * from "./event-publisher";
export * from "./server";
