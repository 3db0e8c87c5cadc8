/**
 * What `clawguard inject` refuses. Deploy does not depend on `@clawguard/shared`, so this mirrors
 * its error shape (a stable `code`) and adds where in the compose file the problem is.
 */
export class InjectError extends Error {
  readonly code = "input.invalid";
  /** The service the problem is in, when there is one. */
  readonly service: string | undefined;
  /** The dotted key path inside the file: `services.gateway.network_mode`. */
  readonly key: string | undefined;

  constructor(message: string, where: { service?: string; key?: string } = {}) {
    super(message);
    this.name = "InjectError";
    this.service = where.service;
    this.key = where.key;
  }
}

/** `services.<name>.<key>` as used in every message. */
export function servicePath(service: string, ...keys: string[]): string {
  return ["services", service, ...keys].join(".");
}
