/** Upper bounds of the per-command limits, for the config and for a request that overrides them. */
export const MAX_EXEC_BYTES = 16 * 1024 * 1024;
export const MAX_EXEC_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
