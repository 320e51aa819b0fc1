export * from "./coalescer";
