export * from "./coalescer";
export * from "./repeater";
export * from "./leadership";
