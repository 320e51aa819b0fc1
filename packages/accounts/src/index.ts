export * from "./api-key";
export * from "./plan";
export * from "./directory";
export * from "./gates";
