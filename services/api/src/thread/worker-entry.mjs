// Worker threads do not inherit the TypeScript loader the process started with; register it
// here, then load the worker itself.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
