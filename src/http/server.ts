/**
 * The gateway's HTTP server (fastify 5): health and readiness probes, Prometheus metrics, the admin API, the
 * dashboard feed, the webchat and dashboard pages, and the webchat WebSocket endpoint.
 *
 * Safe by default: it binds loopback unless told otherwise, and refuses a non-loopback bind without an admin
 * token (`E_HTTP_UNSAFE_BIND`), because the admin API and dashboard are open on loopback when no token is set.
 * Logs go through the injected pino logger; tokens never reach a log line (no request headers are logged,
 * the token is only ever accepted in the `Authorization` header, and URLs are logged without query strings).
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import {
  fastify,
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { Logger } from 'pino';
import { ERROR_CATALOG, InvalidOptionError, isSwitchyardError } from '../errors/index.js';
import { silentLogger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { loadWebAssets, PUBLIC_DIR, type DashboardFeed, type WebAsset } from '../webchat/index.js';
import type { AdminBackend } from './admin-backend.js';
import { registerAdminRoutes } from './admin-routes.js';
import { AdminAuth, isSameOrigin } from './auth.js';
import { isLoopbackHost } from './bind.js';
import { HttpUnsafeBindError, NotFoundError, statusOf } from './errors.js';
import { streamFeed } from './sse.js';

/** Readiness as `/readyz` reports it. */
export const READINESS_STATES = ['starting', 'ready', 'draining'] as const;
/** Readiness as `/readyz` reports it: 200 only when `ready`. */
export type ReadinessState = (typeof READINESS_STATES)[number];

/** What the server needs of a webchat channel: it takes over WebSocket upgrades on the chat path. */
export interface UpgradeTarget {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Options of `createHttpServer`. */
export interface HttpServerOptions {
  /** Bind address. Default `127.0.0.1`. A non-loopback address requires `adminToken`. */
  host?: string;
  /** Port; 0 picks a free one. Default 8787. */
  port?: number;
  /** Bearer token for `/admin/*`. Empty means none (the usual result of `${SWITCHYARD_ADMIN_TOKEN:-}`). */
  adminToken?: string | undefined;
  logger?: Logger;
  /** Served at `/metrics`; without it `/metrics` is 404. */
  metrics?: Metrics;
  /** Backs `/admin/*`; without it those routes are 404. */
  admin?: AdminBackend;
  /** Takes WebSocket upgrades on `/ws/chat`. */
  webchat?: UpgradeTarget;
  /** Backs `/admin/dashboard` (snapshot) and `/admin/feed` (SSE). */
  dashboard?: DashboardFeed;
  /** Serve the chat page at `/` and the dashboard at `/dashboard`. Default true. */
  pages?: boolean;
  /** Pages to serve instead of the bundled ones (tests). */
  assets?: Map<string, WebAsset>;
}

/** A built, not yet listening, HTTP server. */
export interface HttpServer {
  /** The fastify instance (for `inject` in tests, or extra routes). */
  readonly app: FastifyInstance;
  readonly readiness: ReadinessState;
  /** The composition root says when the gateway is ready, and when it starts draining. */
  setReadiness(state: ReadinessState): void;
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Stops listening, ends dashboard streams. Idempotent. */
  close(): Promise<void>;
}

/** The path webchat clients connect to. */
export const CHAT_SOCKET_PATH = '/ws/chat';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<CompilersFactory['buildValidator']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;

/**
 * fastify's default schema compilers (ajv + ajv-formats, fast-json-stringify: ~110 modules, ~3 MB resident),
 * required only when a route first declares a schema. fastify itself requires them in its constructor; our
 * routes validate with zod, so a running gateway never needs them. Resolved from fastify's own location
 * (they are its dependencies, not ours), each selector built once like fastify does.
 */
function lazySchemaCompilers(): Required<CompilersFactory> {
  const requireFromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  // fastify calls each builder as `(externalSchemas, options)`; the declared types are overloads, hence the casts.
  type Builder = (externalSchemas: unknown, options: unknown) => unknown;
  let validator: Builder | undefined;
  let serializer: Builder | undefined;
  const buildValidator: Builder = (schemas, options) => {
    validator ??= (requireFromFastify('@fastify/ajv-compiler') as () => Builder)();
    return validator(schemas, options);
  };
  const buildSerializer: Builder = (schemas, options) => {
    serializer ??= (requireFromFastify('@fastify/fast-json-stringify-compiler') as () => Builder)();
    return serializer(schemas, options);
  };
  return { buildValidator: buildValidator as ValidatorFactory, buildSerializer: buildSerializer as SerializerFactory };
}

/** Headers every page gets: no third-party anything, no framing, no MIME sniffing. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
} as const;

/**
 * The bundled pages, or none (with one warning) when they are missing: a build that forgot to copy
 * `src/webchat/public` must still serve probes, metrics and the admin API. Internal.
 */
function loadPagesOrWarn(log: Logger): Map<string, WebAsset> {
  try {
    return loadWebAssets();
  } catch (err) {
    log.warn({ err, dir: PUBLIC_DIR }, 'webchat pages not found: the build must copy src/webchat/public next to the compiled webchat module');
    return new Map();
  }
}

/**
 * Builds the HTTP server. Validates options at once (fail fast): a bad port is `E_INVALID_OPTION`, a
 * non-loopback host without a token is `E_HTTP_UNSAFE_BIND`.
 */
export function createHttpServer(options: HttpServerOptions = {}): HttpServer {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidOptionError('http.port', 'an integer 0-65535', port);
  const token = options.adminToken === '' ? undefined : options.adminToken;
  if (!isLoopbackHost(host) && token === undefined) throw new HttpUnsafeBindError(host);
  const auth = new AdminAuth(token);
  const log = (options.logger ?? silentLogger).child({ component: 'http' });

  const app = fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Fastify's per-request lines are replaced by the one `onResponse` line below (path only, no headers).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // A hijacked SSE stream or a slow client must not hold shutdown forever.
    forceCloseConnections: true,
    return503OnClosing: true,
    schemaController: { compilersFactory: lazySchemaCompilers() },
  });
  let readiness: ReadinessState = 'starting';
  const streams = new Set<() => void>();

  // One concise line per request, path only (a query string could carry anything a client put there).
  app.addHook('onResponse', async (req, reply) => {
    const path = req.url.split('?', 1)[0];
    const fields = { method: req.method, path, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (path?.startsWith('/admin') === true || reply.statusCode >= 500) req.log.info(fields, 'request');
    else req.log.debug(fields, 'request');
  });

  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (isSwitchyardError(err)) {
      const status = statusOf(err.code);
      if (status >= 500) req.log.error({ err }, 'request failed');
      return reply.code(status).send({ code: err.code, message: err.message, hint: err.hint });
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // Fastify's own checks: bad JSON, wrong content type, body too large.
      return reply.code(status).send({ code: 'E_HTTP_BAD_REQUEST', message: err.message, hint: ERROR_CATALOG.E_HTTP_BAD_REQUEST.hint });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ code: 'E_INTERNAL', message: 'Internal error (see the gateway log)', hint: ERROR_CATALOG.E_INTERNAL.hint });
  });

  app.setNotFoundHandler((req, reply) => {
    const err = new NotFoundError(`${req.method} ${req.url.split('?', 1)[0] ?? ''}`);
    return reply.code(404).send({ code: err.code, message: err.message, hint: err.hint });
  });

  // ── probes and metrics ─────────────────────────────────────────────────────────────────────────────
  const started = Date.now();
  app.get('/healthz', async () => ({ status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000) }));
  app.get('/readyz', async (_req, reply) => reply.code(readiness === 'ready' ? 200 : 503).send({ status: readiness }));
  if (options.metrics !== undefined) {
    const metrics = options.metrics;
    app.get('/metrics', async (_req, reply) => {
      const { contentType, body } = await metrics.expose();
      return reply.type(contentType).send(body);
    });
  }

  // ── admin API and dashboard feed (authenticated) ──────────────────────────────────────────────────
  if (options.admin !== undefined || options.dashboard !== undefined) {
    const admin = options.admin;
    const dashboard = options.dashboard;
    void app.register(
      async (scope) => {
        scope.addHook('onRequest', async (req) => {
          auth.check({ authorization: req.headers.authorization, host: req.headers.host, origin: req.headers.origin });
        });
        if (admin !== undefined) registerAdminRoutes(scope, admin);
        if (dashboard !== undefined) {
          scope.get('/dashboard', async () => dashboard.snapshot());
          scope.get('/feed', (req, reply) => {
            streamFeed(req, reply, dashboard, streams);
          });
        }
      },
      { prefix: '/admin' },
    );
  }

  // ── pages ──────────────────────────────────────────────────────────────────────────────────────────
  if (options.pages !== false) {
    const assets = options.assets ?? loadPagesOrWarn(log);
    const page = (file: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
      const asset = assets.get(file);
      if (asset === undefined) throw new NotFoundError(`Page ${file}`);
      return reply.headers(PAGE_HEADERS).type(asset.contentType).send(asset.body);
    };
    app.get('/', page('index.html'));
    app.get('/dashboard', page('dashboard.html'));
    app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
      // Only names loaded at build time are served: no request path ever reaches the file system.
      const asset = assets.get(req.params.file);
      if (asset === undefined || req.params.file.endsWith('.html')) throw new NotFoundError(`Asset ${JSON.stringify(req.params.file)}`);
      return reply.headers(PAGE_HEADERS).type(asset.contentType).send(asset.body);
    });
  }

  // ── webchat socket ─────────────────────────────────────────────────────────────────────────────────
  const webchat = options.webchat;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?', 1)[0];
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (webchat === undefined || path !== CHAT_SOCKET_PATH) return refuse(404, 'Not Found');
    // A page on another site must not open a chat socket in the user's name (cross-site WebSocket hijacking).
    if (!isSameOrigin(req.headers.origin, req.headers.host)) {
      log.warn({ origin: req.headers.origin }, 'refused a cross-origin webchat socket');
      return refuse(403, 'Forbidden');
    }
    if (readiness === 'draining') return refuse(503, 'Service Unavailable');
    webchat.handleUpgrade(req, socket, head);
  };
  app.server.on('upgrade', onUpgrade);

  let closed = false;
  return {
    app,
    get readiness() {
      return readiness;
    },
    setReadiness(state: ReadinessState): void {
      if (!READINESS_STATES.includes(state)) throw new InvalidOptionError('readiness', READINESS_STATES.join(' | '), state);
      readiness = state;
    },
    async listen() {
      const address = await app.listen({ host, port });
      const bound = app.server.address();
      const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
      log.info({ host, port: boundPort, admin: options.admin !== undefined, auth: auth.enabled ? 'token' : 'loopback' }, 'http listening');
      return { host, port: boundPort, url: address };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const end of [...streams]) end();
      app.server.off('upgrade', onUpgrade);
      await app.close();
    },
  };
}
