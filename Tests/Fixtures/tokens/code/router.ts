// A tiny HTTP router with path parameters and middleware, written for clarity, not speed.

type Params = Record<string, string>;

export interface Request {
  method: string;
  path: string;
  headers: Map<string, string>;
  body?: unknown;
}

export interface Response {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Handler = (req: Request, params: Params) => Promise<Response> | Response;
export type Middleware = (req: Request, next: () => Promise<Response>) => Promise<Response>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];
  private readonly middleware: Middleware[] = [];

  use(mw: Middleware): this {
    this.middleware.push(mw);
    return this;
  }

  on(method: string, pattern: string, handler: Handler): this {
    const segments = pattern.split("/").filter((s) => s.length > 0);
    this.routes.push({ method: method.toUpperCase(), segments, handler });
    return this;
  }

  get(pattern: string, handler: Handler) { return this.on("GET", pattern, handler); }
  post(pattern: string, handler: Handler) { return this.on("POST", pattern, handler); }

  private match(req: Request): { route: Route; params: Params } | undefined {
    const parts = req.path.split("?")[0].split("/").filter((s) => s.length > 0);
    for (const route of this.routes) {
      if (route.method !== req.method.toUpperCase() || route.segments.length !== parts.length) {
        continue;
      }
      const params: Params = {};
      const ok = route.segments.every((seg, i) => {
        if (seg.startsWith(":")) {
          params[seg.slice(1)] = decodeURIComponent(parts[i]);
          return true;
        }
        return seg === parts[i];
      });
      if (ok) return { route, params };
    }
    return undefined;
  }

  async handle(req: Request): Promise<Response> {
    const found = this.match(req);
    const final = async (): Promise<Response> =>
      found ? found.route.handler(req, found.params) : { status: 404, body: { error: "not found" } };
    const chain = this.middleware.reduceRight<() => Promise<Response>>(
      (next, mw) => () => mw(req, next),
      final,
    );
    try {
      return await chain();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { status: 500, body: { error: message } };
    }
  }
}

// Example wiring.
const timing: Middleware = async (req, next) => {
  const started = Date.now();
  const res = await next();
  res.headers = { ...res.headers, "x-elapsed-ms": String(Date.now() - started) };
  return res;
};

export const app = new Router()
  .use(timing)
  .get("/users/:id", (_req, { id }) => ({ status: 200, body: { id, name: `user ${id}` } }))
  .post("/users", (req) => ({ status: 201, body: req.body ?? {} }));
