export * from "./run";
export * from "./mapping";
