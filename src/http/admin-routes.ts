/**
 * The admin API routes under `/admin`. Every route is behind `AdminAuth` (registered as a hook by the server);
 * inputs are validated with zod and a bad one answers 400 `E_HTTP_BAD_REQUEST` naming each problem.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminBackend } from './admin-backend.js';
import { SwitchyardError } from '../errors/index.js';
import { BadRequestError, NotFoundError } from './errors.js';

const SessionKey = z.string().min(1).max(512);
const KeyParams = z.strictObject({ key: SessionKey });
const LaneParams = z.strictObject({ name: z.string().min(1).max(128) });
const ResizeBody = z.strictObject({ concurrency: z.number().int().min(1).max(10_000) });
const PinsQuery = z.strictObject({ session: SessionKey });
const PinBody = z.strictObject({ session: SessionKey, text: z.string().trim().min(1).max(4_000) });
const PinParams = z.strictObject({ id: z.coerce.number().int().nonnegative() });
const PairingQuery = z.strictObject({ channel: z.string().min(1).max(128).optional() });
const ApproveBody = z.strictObject({ channel: z.string().min(1).max(128), code: z.string().trim().min(1).max(64) });

/** Parses `value` with `schema`, or throws a `BadRequestError` that lists every issue with its path. */
function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : what}: ${i.message}`);
  throw new BadRequestError(`Invalid ${what}`, issues);
}

/** Registers the admin routes on `app` (inside the `/admin` prefix). Internal to `createHttpServer`. */
export function registerAdminRoutes(app: FastifyInstance, backend: AdminBackend): void {
  app.get('/sessions', async () => ({ sessions: await backend.listSessions() }));

  app.get('/sessions/:key', async (req) => {
    const { key } = parse(KeyParams, req.params, 'path');
    const detail = await backend.getSession(key);
    if (detail === undefined) throw new NotFoundError(`Session ${JSON.stringify(key)}`);
    return detail;
  });

  app.post('/sessions/:key/stop', async (req) => {
    const { key } = parse(KeyParams, req.params, 'path');
    return backend.stop(key);
  });

  app.post('/sessions/:key/stopall', async (req) => {
    const { key } = parse(KeyParams, req.params, 'path');
    return backend.stopAll(key);
  });

  app.get('/lanes', async () => ({ lanes: await backend.listLanes() }));

  app.post('/lanes/:name/resize', async (req) => {
    const { name } = parse(LaneParams, req.params, 'path');
    const { concurrency } = parse(ResizeBody, req.body, 'body');
    return backend.resizeLane(name, concurrency);
  });

  app.get('/pins', async (req) => {
    const { session } = parse(PinsQuery, req.query, 'query');
    return { pins: await backend.listPins(session) };
  });

  app.post('/pins', async (req, reply) => {
    const { session, text } = parse(PinBody, req.body, 'body');
    const pin = await backend.addPin(session, text);
    return reply.code(201).send(pin);
  });

  app.delete('/pins/:id', async (req) => {
    const { id } = parse(PinParams, req.params, 'path');
    const { session } = parse(PinsQuery, req.query, 'query');
    if (!(await backend.removePin(session, id))) throw new NotFoundError(`Pin ${id} of session ${JSON.stringify(session)}`);
    return { removed: id };
  });

  app.get('/pairing', async (req) => {
    const { channel } = parse(PairingQuery, req.query, 'query');
    return { requests: await backend.listPairings(channel) };
  });

  app.post('/pairing/approve', async (req) => {
    const { channel, code } = parse(ApproveBody, req.body, 'body');
    const approved = await backend.approvePairing(channel, code);
    if (approved === undefined) {
      throw new SwitchyardError('E_PAIRING_INVALID', `Pairing code ${JSON.stringify(code)} is unknown or has expired on channel ${JSON.stringify(channel)}`);
    }
    return { approved };
  });
}
