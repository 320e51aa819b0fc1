export * from "./env";
export * from "./engines";
