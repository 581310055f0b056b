/**
 * Renders the configuration reference (the generated part of docs/CONFIG.md) from the schema, so the docs
 * cannot drift: a test compares the file with this output, and `npx tsx scripts/config-reference.ts` rewrites it.
 */
import { alternatives, configJsonSchema, type JsonSchemaNode } from './json-schema.js';

/** Marks the start of the generated part of docs/CONFIG.md. */
export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED: config reference (scripts/config-reference.ts) -->';
/** Marks its end. */
export const REFERENCE_END = '<!-- END GENERATED -->';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function typeOf(node: JsonSchemaNode): string {
  const alts = alternatives(node);
  if (alts.length > 1) return alts.map(typeOf).join(' or ');
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' | ');
  const types = Array.isArray(node.type) ? node.type.filter((t) => t !== 'null') : node.type ? [node.type] : [];
  let t = types.join(' | ') || 'any';
  if (node.format === 'uri') t = 'URL';
  if (node.additionalProperties && typeof node.additionalProperties === 'object') t = 'map of name → entry';
  if (node.items) t = `list of ${node.items.properties || node.items.anyOf || node.items.oneOf ? 'objects' : typeOf(node.items)}`;
  const range: string[] = [];
  if (node.minimum !== undefined && node.minimum !== 0) range.push(`≥ ${node.minimum}`);
  if (node.minimum === 0 && node.maximum !== undefined && node.maximum < MAX_SAFE) range.push('≥ 0');
  if (node.exclusiveMinimum !== undefined) range.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined && node.maximum < MAX_SAFE) range.push(`≤ ${node.maximum}`);
  if (node.minimum === 0 && (node.maximum === undefined || node.maximum >= MAX_SAFE)) range.push('≥ 0');
  return range.length ? `${t} (${range.join(', ')})` : t;
}

function defaultOf(node: JsonSchemaNode, required: boolean): string {
  if (node.default === undefined) return required ? '**required**' : '—';
  if (typeof node.default === 'object' && node.default !== null && !Array.isArray(node.default)) return '';
  return `\`${JSON.stringify(node.default)}\``;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function isObject(node: JsonSchemaNode): boolean {
  return node.properties !== undefined;
}

function section(out: string[], title: string, node: JsonSchemaNode): void {
  out.push(`### \`${title}\``, '');
  if (node.description) out.push(node.description, '');
  const props = Object.entries(node.properties ?? {});
  const required = new Set(node.required ?? []);
  out.push('| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
  for (const [key, child] of props) {
    const nested = isObject(child) || (child.additionalProperties && typeof child.additionalProperties === 'object') || child.items?.properties || child.items?.anyOf || child.items?.oneOf;
    const type = nested ? `[${isObject(child) ? 'object' : typeOf(child)}](#${anchor(`${title}.${key}`)})` : typeOf(child);
    const desc = child.description ?? alternatives(child).find((a) => a.description)?.description ?? '';
    out.push(`| \`${key}\` | ${cell(type)} | ${cell(defaultOf(child, required.has(key)))} | ${cell(desc)} |`);
  }
  out.push('');
  for (const [key, child] of props) walk(out, `${title}.${key}`, child);
}

function anchor(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

function walk(out: string[], title: string, node: JsonSchemaNode): void {
  if (isObject(node)) return section(out, title, node);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    const entry = node.additionalProperties;
    out.push(`### \`${title}\``, '', `${node.description ?? ''} Each entry, \`${title}.<name>\`: ${entry.description ?? ''}`.trim(), '');
    for (const alt of alternatives(entry)) if (isObject(alt)) section(out, `${title}.<name>`, alt);
    return;
  }
  if (node.items) {
    const alts = alternatives(node.items).filter(isObject);
    if (!alts.length) return;
    out.push(`### \`${title}\``, '', node.description ?? '', '');
    for (const alt of alts) {
      const type = alt.properties?.type?.const;
      section(out, type === undefined ? `${title}[]` : `${title}[] (type: ${String(type)})`, alt);
    }
  }
}

/** The generated reference: one table per object of the schema, with types, defaults and descriptions. */
export function renderConfigReference(): string {
  const root = configJsonSchema();
  const out: string[] = [REFERENCE_BEGIN, '', '| Section | Description |', '| --- | --- |'];
  for (const [key, child] of Object.entries(root.properties ?? {})) out.push(`| [\`${key}\`](#${anchor(key)}) | ${cell(child.description ?? '')} |`);
  out.push('');
  for (const [key, child] of Object.entries(root.properties ?? {})) walk(out, key, child);
  out.push(REFERENCE_END);
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}
