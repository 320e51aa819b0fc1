export * from "./config";
export * from "./invoicer";
