export * from "./config";
export * from "./sealer";
