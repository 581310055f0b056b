/**
 * Loading `switchyard.yaml`: read → parse YAML (keeping positions) → interpolate `${VAR}` → validate with the
 * one zod schema → normalize → deep-freeze. Every problem found is reported at once, each with its YAML path,
 * line, column and a hint, in one `ConfigError` (E_CONFIG_READ / E_CONFIG_ENV / E_CONFIG_INVALID).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';
import { interpolateDocument, protectReferences, type ConfigEnv } from './interpolate.js';
import { closestKey, knownKeysAt } from './json-schema.js';
import { ConfigSchema, type Config } from './normalize.js';

/** The config shipped with Switchyard (SQLite under ./data, the local webchat, a local model). */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/switchyard.yaml', import.meta.url));

/** Turns a zod path into the dotted form users see: `channels[0].queue.mode`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Where a path is in the file: the deepest node that exists on it (a key's own position for map entries). */
function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[], key?: string): { line?: number; column?: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0];
  const segments = key === undefined ? path : [...path, key];
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(seg));
      if (!pair) break;
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  if (offset === undefined) return {};
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

/** Hints for zod's built-in issue kinds, where the message alone does not say what to write. */
function hintFor(issue: z.core.$ZodIssue, input: unknown): string | undefined {
  const params = (issue as { params?: { hint?: unknown } }).params;
  if (typeof params?.hint === 'string') return params.hint;
  const last = issue.path[issue.path.length - 1];
  if (issue.code === 'invalid_type' && valueAt(input, issue.path) == null) {
    if (last === 'token') return 'Set the bot token, e.g. token: ${TELEGRAM_BOT_TOKEN} with the variable exported.';
    return `Add \`${String(last)}:\` here; see docs/CONFIG.md.`;
  }
  if (issue.code === 'invalid_union' && 'options' in issue) return `Write type: ${(issue.options as unknown[]).join(' | ')}.`;
  return undefined;
}

/** Maps zod issues to problems with positions; unknown keys get one problem each, with a "did you mean". */
function toProblems(issues: readonly z.core.$ZodIssue[], input: unknown, doc: Document, lines: LineCounter, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(path, valueAt(input, path)) ?? [];
      for (const key of issue.keys) {
        const near = closestKey(key, known);
        problems.push({
          file,
          path: formatPath([...path, key]),
          ...locate(doc, lines, path, key),
          message: `unknown key "${key}"`,
          hint: near ? `Did you mean "${near}"?` : known.length ? `Allowed here: ${known.join(', ')}.` : 'Remove it.',
        });
      }
      continue;
    }
    problems.push({ file, path: formatPath(path), ...locate(doc, lines, path), message: issue.message, hint: hintFor(issue, input) });
  }
  return problems;
}

/** Freezes an object graph so no area can change the config it was given. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Parses config text. `file` names the source in messages. Throws `ConfigError`.
 * @example parseConfig('channels: [{ id: local, type: webchat }]', 'inline.yaml', {})
 */
export function parseConfig(text: string, file: string, env: ConfigEnv = process.env): Config {
  const lines = new LineCounter();
  const { text: safeText, refs } = protectReferences(text);
  const doc = parseDocument(safeText, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      'E_CONFIG_INVALID',
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return {
          file,
          path: '',
          line: pos?.line,
          column: pos?.col,
          message: `YAML syntax: ${e.message.split('\n')[0]}`,
          hint: e.code === 'DUPLICATE_KEY' ? 'Each key may appear once per block.' : 'Check indentation, quotes and colons.',
        };
      }),
    );
  }
  interpolateDocument(doc, env, lines, file, refs);
  let input: unknown;
  try {
    // Aliases are resolved here: an alias to a missing anchor (or an alias bomb) throws from `toJS`.
    input = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError('E_CONFIG_INVALID', file, [
      { file, path: '', line: 1, message: `YAML: ${(err as Error).message}`, hint: 'Define each &anchor before its *alias, or avoid aliases.' },
    ]);
  }
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError('E_CONFIG_INVALID', file, [
      { file, path: '', line: 1, message: 'the file must be a YAML mapping (key: value lines)', hint: 'Start from config/switchyard.yaml.' },
    ]);
  }
  const result = ConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError('E_CONFIG_INVALID', file, toProblems(result.error.issues, input, doc, lines, file));
  return deepFreeze(result.data) as Config;
}

/**
 * Reads and validates a config file. `env` supplies `${VAR}` values (default `process.env`).
 * Throws `ConfigError` with E_CONFIG_READ, E_CONFIG_ENV or E_CONFIG_INVALID.
 */
export function loadConfig(file: string, env: ConfigEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(err);
    throw new ConfigError('E_CONFIG_READ', file, [{ file, path: '', message, hint: 'Check the path given with --config or SWITCHYARD_CONFIG.' }], { cause: err });
  }
  return parseConfig(text, file, env);
}

/** Every secret value in a config (tokens, keys, webhook secrets), so logs can be scrubbed of them. */
export function configSecrets(config: Config): string[] {
  const out = new Set<string>();
  if (config.http.adminToken) out.add(config.http.adminToken);
  for (const agent of Object.values(config.agents)) if (agent.provider.apiKey) out.add(agent.provider.apiKey);
  for (const channel of config.channels) {
    if (channel.type !== 'webchat') out.add(channel.token);
    if (channel.type === 'telegram' && channel.webhook) out.add(channel.webhook.secretToken);
    if (channel.webhooks?.secret) out.add(channel.webhooks.secret);
  }
  return [...out].filter((s) => s.length >= 4);
}
