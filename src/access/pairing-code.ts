/**
 * Pairing codes: short, unambiguous, typed by humans. Eight characters from an alphabet without look-alikes
 * (no 0/O, 1/I/L), shown as `ABCD-EFGH`; input is forgiving (case, spaces and dashes are ignored).
 * 31^8 ≈ 8.5e11 codes; with at most a handful pending per channel and a 1 h expiry, guessing is hopeless.
 */
import { randomInt } from 'node:crypto';

/** Characters a code is made of. */
export const PAIRING_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/** Characters per code (without the dash). */
export const PAIRING_CODE_LENGTH = 8;

/** Source of randomness: an integer in [0, max). Default `crypto.randomInt`. */
export type RandomInt = (max: number) => number;

/** A fresh code in its canonical form `XXXX-XXXX`. */
export function newPairingCode(random: RandomInt = randomInt): string {
  let raw = '';
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) raw += PAIRING_ALPHABET[random(PAIRING_ALPHABET.length)];
  return `${raw.slice(0, 4)}-${raw.slice(4)}`;
}

/**
 * The canonical form of a code as a human typed it (`abcd efgh`, `ABCDEFGH`), or undefined when it cannot be
 * a code at all (so the store is not even asked).
 */
export function canonicalPairingCode(input: string): string | undefined {
  const raw = input.toUpperCase().replace(/[\s-]/g, '');
  if (raw.length !== PAIRING_CODE_LENGTH || [...raw].some((c) => !PAIRING_ALPHABET.includes(c))) return undefined;
  return `${raw.slice(0, 4)}-${raw.slice(4)}`;
}
