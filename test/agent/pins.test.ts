import { describe, expect, it } from 'vitest';
import { pinCommands } from '../../src/agent/index.js';
import { parseCommand } from '../../src/channels/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { message } from './helpers.js';

function cmd(text: string, over: Parameters<typeof message>[0] = {}) {
  return message({ text, command: parseCommand(text), ...over });
}

describe('pin commands', () => {
  it('/pin <text>, /pins, /unpin <id>', async () => {
    const store = new MemoryStore();
    const pins = pinCommands(store);
    const answer = await pins.handle(cmd('/pin I prefer short answers'));
    expect(answer).toMatch(/^Pinned #\d+: I prefer short answers$/);
    const id = Number(/#(\d+)/.exec(answer!)![1]);
    expect(await pins.handle(cmd('/pins'))).toBe(`Pinned memories:\n#${id}: I prefer short answers`);
    expect(await pins.handle(cmd(`/unpin ${id}`))).toBe(`Unpinned #${id}.`);
    expect(await pins.handle(cmd(`/unpin ${id}`))).toMatch(/No pin/);
    expect(await pins.handle(cmd('/pins'))).toMatch(/No pinned memories/);
  });

  it('/pin as a reply pins the replied-to text; empty and oversized pins are refused with a hint', async () => {
    const store = new MemoryStore();
    const pins = pinCommands(store, { maxPinChars: 20 });
    expect(await pins.handle(cmd('/pin', { replyTo: { platformMessageId: '5', text: 'the meeting is at 3' } }))).toMatch(/Pinned #\d+: the meeting is at 3/);
    expect(await pins.handle(cmd('/pin'))).toMatch(/Nothing to pin/);
    expect(await pins.handle(cmd('/pin this text is definitely longer than twenty'))).toMatch(/too long/);
    expect(await pins.handle(cmd('/unpin abc'))).toMatch(/Which pin/);
    expect((await store.listPins(cmd('x').sessionKey)).length).toBe(1);
  });

  it('limits manual pins per session; other commands are not handled', async () => {
    const store = new MemoryStore();
    const pins = pinCommands(store, { maxManualPins: 2 });
    await pins.handle(cmd('/pin a'));
    await pins.handle(cmd('/pin b'));
    expect(await pins.handle(cmd('/pin c'))).toMatch(/already has 2 pins/);
    expect(pins.handle(cmd('/stop'))).toBeUndefined();
    // another session has its own pins
    expect(await pins.handle(cmd('/pins', { senderId: 'other' }))).toMatch(/No pinned memories/);
  });
});
