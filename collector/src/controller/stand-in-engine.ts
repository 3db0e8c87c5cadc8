import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";

/** A container as the stand-in keeps it. */
interface Container {
  id: string;
  name: string;
  state: "created" | "running" | "exited";
  labels: Record<string, string>;
  /** `network_mode: container:<name>` (Compose's `service:<name>`): whose namespace it joins. */
  joins?: string | undefined;
  /** Bumped at every (re)start: a new run of a container is a new network namespace. */
  runs: number;
  /** The run of `joins` whose namespace it joined when it last (re)started. */
  joinedRun?: number | undefined;
}

/**
 * A stand-in for the Docker Engine API (1.45 unless `apiVersion` says otherwise) on a unix socket, for the docker actuator's tests,
 * answering as the real one does: 204 when done, 304 when the container is already in that
 * state, 404 `{"message":"No such container: x"}`, 409 and 500 with the Engine's JSON message,
 * `page not found` for any other path. Containers are addressed by name or id.
 *
 * GET /containers/json lists them as the Engine does: running ones only unless `all` is true-ish;
 * `filters` is JSON, either `{"label": ["k=v", ...]}` or the older `{"label": {"k=v": true}}`;
 * every label filter must match (`k` alone: the label is there; `k=v`: it has that value); bad JSON
 * and any other filter than `label` answer 400 `invalid filter` (the Engine knows more filters).
 *
 * A container that joins another's network namespace cannot start while that one is not running
 * (409, the Engine's message), and stays in the namespace it joined when that one restarts:
 * `inItsNamespace` tells whether it is in the current one.
 *
 * Names with a behaviour: "removing" answers 409, "broken" 500, "stuck" never stops, "hangs"
 * never answers.
 */
export class StandInEngine {
  readonly socket: string;
  /** The newest API version it speaks: GET /_ping says it (header API-Version); newer paths get 400. */
  apiVersion = "1.45";
  /** Every request but the version check (GET /_ping), `METHOD url` as it came (percent-encoded). */
  readonly requests: string[] = [];
  readonly #containers: Container[] = [];
  readonly #server = createServer((req, res) => {
    if (req.url === "/_ping") {
      res.writeHead(200, { "api-version": this.apiVersion, "content-type": "text/plain" }).end("OK");
      return;
    }
    this.requests.push(`${req.method} ${req.url}`);
    const answer = this.#answer(req.method ?? "", req.url ?? "");
    if (!answer) return; // never answers
    // Errors, lists and inspections come as JSON; 204 and 304 have no body.
    if (answer.body === undefined) res.writeHead(answer.status).end();
    else
      res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  });

  constructor(socket: string) {
    this.socket = socket;
  }

  async listen(): Promise<void> {
    this.#server.listen(this.socket);
    await once(this.#server, "listening");
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, "close");
  }

  /** Creates a container (a running one has started once); returns its id. */
  add(
    name: string,
    state: Container["state"],
    options: { labels?: Record<string, string>; joins?: string } = {},
  ): string {
    const id = createHash("sha256").update(`${name}#${this.#containers.length}`).digest("hex");
    const container: Container = {
      id,
      name,
      state: "created",
      labels: options.labels ?? {},
      joins: options.joins,
      runs: 0,
    };
    this.#containers.push(container);
    if (state === "running") this.#run(container);
    else container.state = state;
    return id;
  }

  /** What `docker compose` creates for a service: its labels, named <project>-<service>-<n>. */
  addService(
    project: string,
    service: string,
    state: Container["state"],
    options: { name?: string; joins?: string; oneoff?: boolean } = {},
  ): string {
    return this.add(options.name ?? `${project}-${service}-1`, state, {
      joins: options.joins,
      labels: {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.oneoff": options.oneoff ? "True" : "False",
        "com.docker.compose.container-number": "1",
      },
    });
  }

  remove(name: string): void {
    const at = this.#containers.findIndex((c) => c.name === name);
    if (at >= 0) this.#containers.splice(at, 1);
  }

  state(name: string): Container["state"] | undefined {
    return this.#find(name)?.state;
  }

  /** Whether it runs in the current namespace of the container it joins. */
  inItsNamespace(name: string): boolean {
    const c = this.#find(name);
    const host = c?.joins === undefined ? undefined : this.#find(c.joins);
    return c?.state === "running" && host?.state === "running" && c.joinedRun === host.runs;
  }

  #find(ref: string): Container | undefined {
    return this.#containers.find((c) => c.name === ref || c.id === ref);
  }

  #run(c: Container): void {
    c.state = "running";
    c.runs++;
    if (c.joins !== undefined) c.joinedRun = this.#find(c.joins)?.runs;
  }

  #answer(method: string, url: string): { status: number; body?: unknown } | undefined {
    const json = (status: number, body?: unknown) => ({ status, body });
    const [versioned = "", query = ""] = url.split("?", 2);
    const v = /^\/v(\d+)\.(\d+)(\/.*)$/.exec(versioned);
    const [major, minor] = this.apiVersion.split(".").map(Number) as [number, number];
    if (v && (Number(v[1]) > major || (Number(v[1]) === major && Number(v[2]) > minor)))
      return json(400, {
        message: `client version ${v[1]}.${v[2]} is too new. Maximum supported API version is ${this.apiVersion}`,
      });
    const path = v?.[3] ?? versioned;
    if (path === "/containers/json" && method === "GET") return this.#list(new URLSearchParams(query));
    const match = /^\/containers\/([^/]+)\/(start|stop|restart|json)$/.exec(path);
    if (!match) return json(404, { message: "page not found" });
    const [, encoded, action] = match as unknown as [string, string, string];
    const ref = decodeURIComponent(encoded);
    const c = this.#find(ref);
    if (!c) return json(404, { message: `No such container: ${ref}` });
    if (c.name === "hangs") return undefined;
    if (c.name === "broken")
      return json(500, { message: "failed to create task for container: OCI runtime create failed" });
    if (action === "json" && method === "GET")
      return json(200, {
        Id: c.id,
        Name: `/${c.name}`,
        State: { Running: c.state === "running", Status: c.state },
      });
    if (method !== "POST") return json(404, { message: "page not found" });
    if (c.name === "removing")
      return json(409, { message: `container ${c.name} is marked for removal and cannot be started` });
    if (action === "stop") {
      if (c.state !== "running") return json(304);
      if (c.name !== "stuck") c.state = "exited";
      return json(204);
    }
    if (action === "start" && c.state === "running") return json(304);
    if (c.joins !== undefined) {
      const host = this.#find(c.joins);
      if (host?.state !== "running")
        return json(409, {
          message: `cannot join network namespace of a non running container: container ${c.joins} is ${host?.state ?? "removed"}`,
        });
    }
    this.#run(c); // start, or restart (which starts a stopped container too)
    return json(204);
  }

  #list(params: URLSearchParams): { status: number; body: unknown } {
    const all = params.get("all");
    const showAll = all !== null && !["", "0", "no", "false", "none"].includes(all.toLowerCase());
    const filters = parseFilters(params.get("filters") ?? "");
    if (typeof filters === "string") return { status: 400, body: { message: filters } };
    const labels = filters.label ?? [];
    const listed = this.#containers.filter(
      (c) =>
        (showAll || c.state === "running") &&
        labels.every((filter) => {
          const at = filter.indexOf("=");
          const key = at < 0 ? filter : filter.slice(0, at);
          return key in c.labels && (at < 0 || c.labels[key] === filter.slice(at + 1));
        }),
    );
    return {
      status: 200,
      body: listed.map((c) => ({
        Id: c.id,
        Names: [`/${c.name}`],
        Image: "ghcr.io/openclaw/openclaw:latest",
        Labels: c.labels,
        State: c.state,
        Status:
          c.state === "running"
            ? "Up 5 minutes"
            : c.state === "created"
              ? "Created"
              : "Exited (0) 1 minute ago",
      })),
    };
  }
}

/** The Engine's two encodings of `filters`; a string is the error it answers with. */
function parseFilters(raw: string): Record<string, string[]> | string {
  if (raw === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return "invalid filter";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "invalid filter";
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) out[key] = value;
    else if (
      typeof value === "object" &&
      value !== null &&
      Object.values(value).every((v) => typeof v === "boolean")
    )
      out[key] = Object.keys(value);
    else return "invalid filter";
    if (key !== "label") return `invalid filter '${key}'`;
  }
  return out;
}
