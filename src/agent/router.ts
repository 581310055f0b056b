/**
 * One Scheduler, several agents: the Scheduler takes a single `run` and `contextRatio`, while each channel
 * is answered by its configured agent. The router dispatches by the channel id at the head of the session key.
 */
import { channelIdOfSessionKey, type InboundMessage } from '../channels/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { RunContext, Turn } from '../scheduler/index.js';
import type { Agent } from './runner.js';

/** What the Scheduler and ingress need from all agents together. */
export interface AgentRouter {
  /** The Scheduler's `run`: the turn's channel's agent answers it. */
  run(turn: Turn<InboundMessage>, ctx: RunContext): Promise<void>;
  /** The Scheduler's `contextRatio` (0 for a session whose channel has no agent). */
  contextRatio(sessionKey: string): number;
  /** `/pin`, `/unpin`, `/pins` for ingress: the answer text, or undefined when not a pin command. */
  handlePinCommand(message: InboundMessage): Promise<string> | undefined;
}

/** Builds a router over `agentOf(channelId)` (the gateway maps channels to their configured agents). */
export function agentRouter(agentOf: (channelId: string) => Agent | undefined): AgentRouter {
  const find = (sessionKey: string): Agent => {
    const channelId = channelIdOfSessionKey(sessionKey);
    const agent = agentOf(channelId);
    if (agent === undefined) {
      throw new SwitchyardError('E_INTERNAL', `No agent is configured for channel ${channelId}`, { context: { channelId, sessionKey } });
    }
    return agent;
  };
  return {
    run: async (turn, ctx) => find(turn.sessionKey).run(turn, ctx),
    contextRatio: (sessionKey) => agentOf(channelIdOfSessionKey(sessionKey))?.contextRatio(sessionKey) ?? 0,
    handlePinCommand: (message) => agentOf(message.channelId)?.pinCommands.handle(message),
  };
}
