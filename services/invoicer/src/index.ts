export * from "./config";
export * from "./invoicer";
export * from "./webhook";
