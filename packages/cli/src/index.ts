/** What other packages and the tests may use of the command line: its roles and their configuration. */
export { parseRoles, ROLES, runConfigSchema, type Role } from "./run";
