/**
 * From the config's `agents:` blocks to running agents (src/agent), and the one error a new user meets most:
 * no model server at the configured address. That error is rewritten to say exactly what to configure, and
 * the same check runs once at start so the log says it before anyone chats.
 */
import type { AgentConfig as ConfigAgent } from '../config/index.js';
import type { AgentConfig } from '../agent/index.js';
import { SwitchyardError, isSwitchyardError } from '../errors/index.js';

/** Maps a config agent to the agent runtime's config. */
export function toAgentConfig(agent: ConfigAgent): AgentConfig {
  return {
    provider: {
      baseUrl: agent.provider.baseUrl,
      apiKey: agent.provider.apiKey,
      model: agent.provider.model,
      timeoutMs: agent.provider.timeoutMs,
      maxAttempts: agent.provider.maxAttempts,
    },
    systemPrompt: agent.systemPrompt,
    contextWindow: agent.contextWindow,
    compactAt: agent.compactAt,
    keepRecentTokens: agent.keepRecentTokens,
    classifier: agent.classifier
      ? { enabled: true, model: agent.classifier.model ?? agent.provider.model, autoCap: agent.classifier.autoPinCap }
      : { enabled: false },
  };
}

/** What to tell a user (and the log) when the model server cannot be reached. */
export function modelHelp(agentName: string, agent: ConfigAgent, configFile: string | undefined): string {
  return (
    `the model server for agent "${agentName}" at ${agent.provider.baseUrl} (model ${agent.provider.model}) cannot be reached. ` +
    `To fix it: start a local OpenAI-compatible server there (e.g. \`ollama serve\` and \`ollama pull ${agent.provider.model}\`), ` +
    `or set OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_API_KEY` +
    (configFile ? ` (or agents.${agentName}.provider in ${configFile})` : '') +
    ', or run `npm run demo` to try Switchyard with a built-in fake model'
  );
}

/** The model server is not there: the message says what to configure. Keeps the provider error as cause. */
export class ModelUnreachableError extends SwitchyardError {
  constructor(help: string, cause: unknown) {
    super('E_PROVIDER_CONNECTION', help.charAt(0).toUpperCase() + help.slice(1), { cause });
  }
}

/** Rewrites a connection failure into `ModelUnreachableError`; anything else passes through. */
export function explainProviderError(err: unknown, help: () => string): unknown {
  if (isSwitchyardError(err, 'E_PROVIDER_CONNECTION') && !(err instanceof ModelUnreachableError)) return new ModelUnreachableError(help(), err);
  return err;
}

/**
 * Checks the model server answers `GET <baseUrl>/models` within `timeoutMs`. Resolves true / false, never
 * throws: the answer only decides what the start-up log says.
 */
export async function probeModelServer(baseUrl: string, apiKey: string | undefined, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return true; // any HTTP answer means something listens there (401 / 404 are different problems)
  } catch {
    return false;
  }
}
