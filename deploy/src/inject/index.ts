export { injectCommand } from "./command.ts";
export { validateCompose } from "./compose-schema.ts";
export { InjectError } from "./errors.ts";
export { type InjectResult, inject, type RemoveResult, removeInjection } from "./inject.ts";
export { DEFAULTS, type InjectOptions } from "./plan.ts";
