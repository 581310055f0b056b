/**
 * The config schema as JSON Schema (zod's `toJSONSchema` of the input side), and walks over it. Used for
 * docs/CONFIG.md and for "did you mean" hints on unknown keys. Computed once, lazily.
 */
import { z } from 'zod';
import { RawConfigSchema } from './schema.js';

/** The subset of JSON Schema zod emits for this config. Internal. */
export interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  additionalProperties?: boolean | JsonSchemaNode;
  propertyNames?: JsonSchemaNode;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
}

let cached: JsonSchemaNode | undefined;

/** JSON Schema of what a user may write in switchyard.yaml. */
export function configJsonSchema(): JsonSchemaNode {
  cached ??= z.toJSONSchema(RawConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return cached;
}

/** The alternatives of a node (anyOf / oneOf), or the node itself. */
export function alternatives(node: JsonSchemaNode): JsonSchemaNode[] {
  return node.anyOf ?? node.oneOf ?? [node];
}

/**
 * The keys allowed in the object at `path` of the config, given the value found there (a channel's `type`
 * picks its variant). Undefined when the path does not lead to a fixed-key object.
 */
export function knownKeysAt(path: readonly PropertyKey[], value: unknown): string[] | undefined {
  let nodes: JsonSchemaNode[] = [configJsonSchema()];
  for (const segment of path) {
    const next: JsonSchemaNode[] = [];
    for (const node of nodes.flatMap(alternatives)) {
      if (typeof segment === 'number' && node.items) next.push(node.items);
      else if (node.properties && Object.hasOwn(node.properties, String(segment))) next.push(node.properties[String(segment)]!);
      else if (typeof node.additionalProperties === 'object') next.push(node.additionalProperties);
    }
    if (!next.length) return undefined;
    nodes = next;
  }
  const objects = nodes.flatMap(alternatives).filter((n) => n.properties);
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const matching = objects.filter((n) => n.properties?.type?.const === undefined || n.properties.type.const === type);
  const chosen = matching.length ? matching : objects;
  if (!chosen.length) return undefined;
  return [...new Set(chosen.flatMap((n) => Object.keys(n.properties ?? {})))];
}

/** Edit distance, for "did you mean". Internal helper. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** The known key closest to `key`, if it is close enough to be a typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
