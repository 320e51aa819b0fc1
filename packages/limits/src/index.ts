export * from "./clock";
export * from "./window";
export * from "./rate-class";
export * from "./limit-check";
export * from "./reference-limiter";
