/**
 * `${VAR}` and `${VAR:-default}` interpolation of config values from the environment.
 *
 * It works on the parsed YAML document, scalar by scalar, not on the raw text: a value containing `#`, `: ` or
 * quotes cannot change the structure of the file, line numbers stay exact, and a `${VAR}` in a comment is not
 * required. An unquoted scalar is re-read as YAML after expansion, so `port: ${PORT}` is a number and
 * `adminToken: ${TOKEN:-}` is empty (unset), just as if the text had been written there; quoted scalars stay
 * strings. `$${` writes a literal `${`.
 *
 * YAML itself would reject `{ port: ${PORT} }` (braces are flow indicators), so before parsing each reference
 * is swapped for a placeholder of the same length made of private-use characters (`protectReferences`);
 * offsets, lines and columns are unchanged, and the interpolation step swaps the references back in.
 */
import { isPair, isSeq, parse as parseYaml, visit, Scalar, type Document, type LineCounter } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';

/** The environment values are taken from (`process.env` by default). */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

const PATTERN = /\$(\$?)\{([^}]*)\}|\$\{/g;
const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;
const CLOSED_REFERENCE = /\$\$?\{[^}\n]*\}/g;

/** Placeholder alphabet: U+E000 marks a placeholder, U+E001.. are its base-6399 digits. */
const MARK = 0xe000;
const BASE = 0xf8ff - MARK;
const PLACEHOLDER = /\uE000[\uE001-\uF8FF]+/g;

/** References swapped out of the text, by placeholder. Internal. */
export type ProtectedRefs = Map<string, string>;

/** Swaps every `${...}` for a same-length placeholder, so any YAML style can hold one. Internal. */
export function protectReferences(text: string): { text: string; refs: ProtectedRefs } {
  const refs: ProtectedRefs = new Map();
  let n = 0;
  const out = text.replace(CLOSED_REFERENCE, (ref) => {
    let digits = '';
    for (let v = n++; digits.length < ref.length - 1; v = Math.floor(v / BASE)) digits = String.fromCharCode(MARK + 1 + (v % BASE)) + digits;
    const placeholder = String.fromCharCode(MARK) + digits;
    refs.set(placeholder, ref);
    return placeholder;
  });
  return { text: out, refs };
}

function restore(text: string, refs: ProtectedRefs): string {
  return refs.size === 0 ? text : text.replace(PLACEHOLDER, (p) => refs.get(p) ?? p);
}

/** What expanding one string found. Internal. */
interface Expansion {
  value: string;
  missing: string[];
  malformed: string[];
}

/** Expands `${...}` references in one string. Exported for tests and tools. */
export function expandString(text: string, env: ConfigEnv): Expansion {
  const missing: string[] = [];
  const malformed: string[] = [];
  const value = text.replace(PATTERN, (whole, escaped: string | undefined, body: string | undefined) => {
    if (body === undefined) {
      malformed.push(whole);
      return whole;
    }
    if (escaped) return `\${${body}}`;
    const m = VARIABLE.exec(body);
    if (!m) {
      malformed.push(whole);
      return whole;
    }
    const [, name, fallback] = m;
    const set = env[name!];
    // Like the shell: `:-` also applies when the variable is set but empty.
    if (set !== undefined && (set !== '' || fallback === undefined)) return set;
    if (fallback !== undefined) return fallback;
    missing.push(name!);
    return '';
  });
  return { value, missing, malformed };
}

/** Re-reads an expanded plain scalar as YAML would have read the text (numbers, booleans, null). */
function retype(value: string): unknown {
  if (value.trim() === '') return null;
  try {
    const parsed: unknown = parseYaml(value);
    return parsed === null || ['number', 'boolean'].includes(typeof parsed) ? parsed : value;
  } catch {
    return value;
  }
}

/** The config path (`channels[0].token`) of a node, from its ancestors as `visit` reports them. */
function pathOf(chain: readonly unknown[]): string {
  let out = '';
  chain.forEach((node, i) => {
    if (isPair(node)) {
      const key = node.key instanceof Scalar ? String(node.key.value) : String(node.key);
      out += out ? `.${key}` : key;
    } else if (isSeq(node)) {
      out += `[${node.items.indexOf(chain[i + 1] as never)}]`;
    }
  });
  return out;
}

/**
 * Expands every `${...}` in the document's scalar values, in place (keys only get their text restored).
 * Throws a `ConfigError` with code E_CONFIG_ENV listing each missing variable with its line, or
 * E_CONFIG_INVALID for a malformed reference.
 */
export function interpolateDocument(doc: Document, env: ConfigEnv, lines: LineCounter, file: string, refs: ProtectedRefs = new Map()): void {
  const missing: ConfigProblem[] = [];
  const malformed: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (typeof node.value !== 'string') return;
      const text = restore(node.value, refs);
      if (key === 'key' || !text.includes('${')) {
        node.value = text;
        return;
      }
      const pos = node.range ? lines.linePos(node.range[0]) : undefined;
      const where = { file, line: pos?.line, column: pos?.col, path: pathOf([...ancestors, node]) };
      const result = expandString(text, env);
      for (const name of result.missing) {
        missing.push({ ...where, message: `environment variable ${name} is not set`, hint: `Set ${name}, or write \${${name}:-default}.` });
      }
      for (const ref of result.malformed) {
        malformed.push({ ...where, message: `malformed reference "${ref}"`, hint: 'Write ${NAME} or ${NAME:-default}; write $${ for a literal ${.' });
      }
      const plain = node.type === Scalar.PLAIN || node.type === undefined;
      node.value = plain ? retype(result.value) : result.value;
    },
  });
  if (missing.length) throw new ConfigError('E_CONFIG_ENV', file, missing);
  if (malformed.length) throw new ConfigError('E_CONFIG_INVALID', file, malformed);
}
