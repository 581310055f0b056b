/**
 * A small client of the running gateway's admin API, for the CLI commands that act on live state (sessions,
 * stop, pairing). It speaks plain HTTP with `fetch`; the token goes in the `Authorization` header only.
 */
import { SwitchyardError, type ErrorCode } from '../errors/index.js';

/** The admin API refused a request or could not be reached. `status` is 0 when nothing answered. */
export class AdminRequestError extends SwitchyardError {
  readonly status: number;
  constructor(code: ErrorCode, message: string, status: number, options: { cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, context: { status } });
    this.status = status;
  }
}

/** Where the admin API is and how to authenticate. */
export interface AdminClientOptions {
  /** Base URL of the gateway (`http://127.0.0.1:8787`). */
  baseUrl: string;
  /** Bearer token (`http.adminToken`), if one is configured. */
  token?: string | undefined;
  /** Per-request timeout (ms). Default 10 000. */
  timeoutMs?: number;
}

/** The admin API over HTTP. Every method throws `AdminRequestError` on failure. */
export class AdminClient {
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Calls `/admin<path>`; resolves with the parsed JSON body of a 2xx answer. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = `${this.baseUrl}/admin${path}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new AdminRequestError(
        'E_GATEWAY_UNREACHABLE',
        `Cannot reach the gateway at ${this.baseUrl} (${describeFetchError(err)}). Is \`switchyard start\` running with this config?`,
        0,
        { cause: err },
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const payload = (parsed ?? {}) as { code?: string; message?: string; hint?: string };
      const code = (payload.code && /^E_[A-Z_]+$/.test(payload.code) ? payload.code : 'E_INTERNAL') as ErrorCode;
      const hint = res.status === 401 ? ' Check http.adminToken (SWITCHYARD_ADMIN_TOKEN) matches the running gateway.' : payload.hint ? ` ${payload.hint}` : '';
      throw new AdminRequestError(code, `${method} /admin${path} failed: ${res.status} ${payload.message ?? res.statusText}.${hint}`, res.status);
    }
    return parsed as T;
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((err as Error).name === 'TimeoutError') return 'timed out';
  return (err as Error).message ?? String(err);
}
