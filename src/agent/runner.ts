/**
 * The agent: answers scheduler turns with a streamed model reply, keeps the session's history, context
 * estimate, compaction and post-turn scoring. `createAgent(deps).run` is the Scheduler's `run` option and
 * `.contextRatio` its `contextRatio` option.
 *
 * A turn, step by step:
 * 1. read history and pins; build the prompt (prompt.ts); estimate its tokens;
 * 2. stream the model's answer into the channel's ReplyStream (deltas only while the signal is live);
 * 3. on a context overflow: compact inline, rebuild the prompt, retry exactly once;
 * 4. deliver the final text (`complete`), then append the user entries and the assistant entry in one write
 *    (not awaited: it joins the group commit of the turn's outcome);
 * 5. off the turn path: compaction when the estimate crosses `compactAt`, significance scoring.
 *
 * History invariants (what an aborted or failed turn leaves): the turn's user messages are always recorded,
 * once (an earlier attempt of the same turn that already recorded them is recognized by `runId`, so a turn
 * re-run after a crash or drain does not duplicate them). The assistant entry is recorded only when the reply
 * was delivered in full; partial streamed text of an aborted turn is discarded (the channel's `cancel`
 * removes or finalizes the preview). So history never holds an answer the user did not get, nor loses what
 * the user said.
 */
import type { InboundMessage, ReplyStream } from '../channels/index.js';
import { toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import type { RunContext, Turn } from '../scheduler/index.js';
import type { HistoryEntry, NewHistoryEntry, Pin } from '../store/index.js';
import { Compactor, entryTokens, type CompactionStatus, type Summarizer } from './compaction.js';
import { resolveAgentConfig, type AgentConfig, type ResolvedAgentConfig } from './config.js';
import { ContextMeter } from './context-meter.js';
import { ContextOverflowError, ProviderError } from './errors.js';
import { guardObserver, type AgentObserver } from './observer.js';
import { pinCommands, type PinCommands } from './pins.js';
import { buildPrompt, dropNotice, namesSenders, renderMessageText, renderSystem, userContent } from './prompt.js';
import { ProviderClient, type ChatMessage, type ChatResult } from './provider.js';
import { TurnScorer, type ClassifierCall, type ScoringOutcome } from './scoring.js';
import { defaultSummarizer } from './summarizer.js';
import { MESSAGE_OVERHEAD_TOKENS, messageTokens, REQUEST_OVERHEAD_TOKENS, tiktokenCounter, type TokenCounter } from './tokens.js';
import { TurnClock, type TurnTiming } from './turn-clock.js';
import type { AgentMemory, BackgroundLane } from './types.js';

export type { TurnTiming } from './turn-clock.js';

/** What the agent needs. Everything is injected; only `config`, `memory`, `openReply` and `lane` are required. */
export interface AgentDeps {
  config: AgentConfig;
  memory: AgentMemory;
  /** Opens the channel's reply for a turn (the gateway maps the turn to the adapter's `openReply`). */
  openReply: (turn: Turn<InboundMessage>, signal: AbortSignal) => ReplyStream;
  /** Lanes by name; called when a background job starts, so the Scheduler may be built after the agent. */
  lane: (name: string) => BackgroundLane;
  /** Default: a `ProviderClient` from `config.provider`. */
  provider?: ProviderClient | undefined;
  /** Default: the provider with `config.compaction.model`. */
  summarize?: Summarizer | undefined;
  /** Default: the provider with `config.classifier.model`. */
  classify?: ClassifierCall | undefined;
  /** Default: tiktoken cl100k. */
  counter?: TokenCounter | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
  onTiming?: ((timing: TurnTiming) => void) | undefined;
  /**
   * Told tokens, failed provider attempts and compaction results (the gateway passes its `Metrics`). Every
   * call is guarded: an observer that throws is logged and never breaks a turn or a job.
   */
  observer?: AgentObserver | undefined;
}

/** Cumulative counters of an agent since start, for metrics (cheap: plain numbers). */
export interface AgentStats {
  turns: { answered: number; failed: number; aborted: number };
  /** Extra provider attempts (retries) made by answered turns. */
  retries: number;
  /** Turns that overflowed and were retried after an inline compaction. */
  overflowRecoveries: number;
  compactions: Readonly<Record<CompactionStatus, number>>;
  scoring: Readonly<Record<ScoringOutcome['status'], number>>;
}

/** A running agent. */
export interface Agent {
  readonly config: ResolvedAgentConfig;
  /** The Scheduler's `run`. Resolves when answered; throws a typed error (or the abort reason) otherwise. */
  run(turn: Turn<InboundMessage>, ctx: RunContext): Promise<void>;
  /** The Scheduler's `contextRatio`: context fill 0..1 of the session's next prompt. Sync, O(1). */
  contextRatio(sessionKey: string): number;
  /** Reads a session from the store and refreshes its context estimate (calibrated tokens). */
  prime(sessionKey: string): Promise<number>;
  /** Counters since start. */
  stats(): AgentStats;
  readonly pinCommands: PinCommands;
  readonly compactor: Compactor;
  readonly scorer: TurnScorer;
  readonly meter: ContextMeter;
  readonly provider: ProviderClient;
}

/** Shorthand: the Scheduler `run` function of a new agent. */
export function createTurnRunner(deps: AgentDeps): (turn: Turn<InboundMessage>, ctx: RunContext) => Promise<void> {
  return createAgent(deps).run;
}

function abortError(signal: AbortSignal): Error {
  return toError(signal.reason);
}

/** Builds an agent. */
export function createAgent(deps: AgentDeps): Agent {
  const config = resolveAgentConfig(deps.config);
  const log = deps.logger ?? silentLogger;
  const observer = guardObserver(deps.observer, log);
  const now = deps.now ?? Date.now;
  const counter = deps.counter ?? tiktokenCounter;
  const memory = deps.memory;
  const provider =
    deps.provider ??
    new ProviderClient({
      baseUrl: config.provider.baseUrl,
      apiKey: config.provider.apiKey,
      model: config.provider.model,
      timeoutMs: config.provider.timeoutMs,
      maxAttempts: config.provider.maxAttempts,
      includeUsage: config.provider.includeUsage,
      logger: log,
    });
  const meter = new ContextMeter({ contextWindow: config.contextWindow });
  const summaryMaxTokens = Math.min(1024, Math.floor(config.contextWindow / 4));
  const backgroundLane = (): BackgroundLane => deps.lane(config.backgroundLane);

  // System message token counts, cached by text (pins and summaries change rarely; the prompt per agent never).
  const systemTokens = new Map<string, number>();
  const countSystem = (text: string): number => {
    let n = systemTokens.get(text);
    if (n === undefined) {
      n = messageTokens(counter, text);
      if (systemTokens.size >= 256) systemTokens.clear();
      systemTokens.set(text, n);
    }
    return n;
  };

  /** Raw (uncalibrated) token estimate of a prompt made of these parts. */
  const estimate = (history: readonly HistoryEntry[], pins: readonly Pin[], extra: number): number => {
    let summary: string | undefined;
    let total = REQUEST_OVERHEAD_TOKENS + extra;
    for (const e of history) {
      if (e.role === 'summary') summary = e.content;
      else total += entryTokens(counter, e);
    }
    return total + countSystem(renderSystem(config.systemPrompt, pins, summary));
  };

  const prime = async (sessionKey: string): Promise<number> => {
    const [history, pins] = await Promise.all([memory.history(sessionKey), memory.listPins(sessionKey)]);
    meter.set(sessionKey, estimate(history, pins, 0));
    return meter.tokens(sessionKey);
  };

  const compactor = new Compactor({
    memory,
    counter,
    lane: backgroundLane,
    keepRecentTokens: config.keepRecentTokens,
    quota: config.compaction,
    model: config.compaction.model,
    now,
    logger: log,
    summarize:
      deps.summarize ??
      defaultSummarizer(provider, {
        model: config.compaction.model,
        counter,
        maxTokens: summaryMaxTokens,
        // A long transcript may take a local model a while before its first token: allow up to the job timeout.
        timeoutMs: Math.max(provider.timeoutMs, config.compaction.timeoutMs ?? 120_000),
        // Leave room for the answer and for tokenizer mismatch (the meter's calibration is not applied here).
        budgetTokens: Math.floor((config.contextWindow - summaryMaxTokens) * 0.75),
        observer,
      }),
    observer,
    onApplied: (sessionKey) => {
      prime(sessionKey).catch((err: unknown) => log.warn({ sessionKey, err }, 'context re-estimate after compaction failed'));
    },
  });

  const classify: ClassifierCall =
    deps.classify ??
    (async (messages, signal) => (await provider.chat(messages, { model: config.classifier.model, maxTokens: 80, temperature: 0, signal, observer })).text);
  const scorer = new TurnScorer({
    memory,
    classify,
    lane: backgroundLane,
    autoCap: config.classifier.autoCap,
    timeoutMs: config.classifier.timeoutMs,
    model: config.classifier.model,
    logger: log,
    now,
  });

  const counters = { answered: 0, failed: 0, aborted: 0, retries: 0, overflowRecoveries: 0 };

  /** A failed or aborted turn keeps what the user said (one write); a store refusing it is logged, not thrown. */
  const keepUsers = async (userEntries: NewHistoryEntry[], turnId: string): Promise<void> => {
    if (userEntries.length === 0) return;
    try {
      await memory.appendHistory(userEntries);
    } catch (storeErr) {
      log.error({ sessionKey: userEntries[0]!.sessionKey, turnId, err: storeErr }, 'could not record the user messages of a failed turn');
    }
  };

  /** One model call of a turn (the options object is the only allocation besides the provider's). */
  const ask = (prompt: ChatMessage[], onDelta: (text: string) => void, signal: AbortSignal, clock: TurnClock | undefined): Promise<ChatResult> => {
    if (clock === undefined) return provider.chat(prompt, { onDelta, signal, maxTokens: config.maxReplyTokens, observer });
    return clock.span('model', () => provider.chat(prompt, { onDelta, signal, maxTokens: config.maxReplyTokens, observer }));
  };

  const maybeCompact = (sessionKey: string): void => {
    if (!config.compaction.enabled || meter.tokens(sessionKey) < config.compactAt || compactor.isRunning(sessionKey)) return;
    // A quota refusal (cooldown, attempts used up) resolves at once and is counted as `skipped`.
    void compactor.request(sessionKey);
  };

  async function run(turn: Turn<InboundMessage>, ctx: RunContext): Promise<void> {
    const clock = deps.onTiming === undefined ? undefined : new TurnClock();
    const signal = ctx.signal;
    const sessionKey = turn.sessionKey;
    const owner = turn.messages[0];
    if (owner === undefined) return; // the scheduler never sends an empty turn; nothing to answer

    let [history, pins] = await Promise.all([memory.history(sessionKey), memory.listPins(sessionKey)]);

    // The user entries of this turn: recorded once, even across attempts (see the module comment).
    const ownerPrefix = `${owner.id}#`;
    let alreadyRecorded = false;
    for (const e of history) {
      if (e.role === 'user' && e.runId?.startsWith(ownerPrefix) === true) {
        alreadyRecorded = true;
        break;
      }
    }
    const named = namesSenders(turn);
    const at = now();
    // Each message is rendered once: the history entry keeps it without the name, the prompt and the count with it
    // (the same text `renderTurn` gives).
    const userEntries: NewHistoryEntry[] = [];
    const turnMessages: ChatMessage[] = [];
    let turnTokens = 0;
    if (!alreadyRecorded) {
      const notice = dropNotice(turn);
      if (notice !== undefined) {
        turnMessages.push(notice);
        turnTokens += messageTokens(counter, notice.content);
      }
      for (const m of turn.messages) {
        const content = renderMessageText(m);
        const name = named ? m.senderName || m.senderId : undefined;
        const text = userContent(content, name);
        const tokens = messageTokens(counter, text);
        turnTokens += tokens;
        userEntries.push({ sessionKey, role: 'user', content, name, tokens, runId: turn.id, at });
        turnMessages.push({ role: 'user', content: text });
      }
    }

    let promptEstimate = estimate(history, pins, turnTokens);
    meter.set(sessionKey, promptEstimate);
    maybeCompact(sessionKey); // background; its result helps later turns, never this one

    // Every path that calls `keepUsers` throws right after it: the user entries are written once per turn.
    // Stopped before anything was shown: no reply is opened, but what the user said is kept.
    if (signal.aborted) {
      counters.aborted += 1;
      await keepUsers(userEntries, turn.id);
      throw abortError(signal);
    }
    let reply: ReplyStream;
    try {
      reply = deps.openReply(turn, signal);
    } catch (err) {
      // No channel to answer in: the turn fails, but what the user said is kept.
      counters.failed += 1;
      await keepUsers(userEntries, turn.id);
      throw err;
    }
    const onDelta = (text: string): void => {
      if (!signal.aborted) reply.delta(text);
    };

    let result: ChatResult;
    try {
      try {
        result = await ask(buildPrompt({ systemPrompt: config.systemPrompt, pins, history, turnMessages }), onDelta, signal, clock);
      } catch (err) {
        if (!(err instanceof ContextOverflowError) || signal.aborted) throw err;
        // Overflow: compact now (inline, cooldown skipped), rebuild, retry exactly once.
        const keep = Math.min(config.keepRecentTokens, Math.floor(config.contextWindow / 4));
        const compact = (): ReturnType<Compactor['compactNow']> => compactor.compactNow(sessionKey, signal, keep);
        const outcome = await (clock === undefined ? compact() : clock.span('model', compact));
        log.warn({ sessionKey, turnId: turn.id, compaction: outcome.status }, 'context overflow, compacted to retry');
        if (outcome.status === 'applied') counters.overflowRecoveries += 1;
        if (outcome.status !== 'applied') {
          throw outcome.status === 'nothing'
            ? new ContextOverflowError('nothing older is left to summarize: this message and the pinned memories alone are too long', {
                cause: err,
                context: { sessionKey },
                advice: 'Send a shorter message, or remove pinned memories with /unpin.',
              })
            : new ContextOverflowError(`compaction could not make room (${outcome.status})`, { cause: outcome.error ?? err, context: { sessionKey } });
        }
        [history, pins] = await Promise.all([memory.history(sessionKey), memory.listPins(sessionKey)]);
        if (signal.aborted) throw abortError(signal);
        promptEstimate = estimate(history, pins, turnTokens);
        meter.set(sessionKey, promptEstimate);
        result = await ask(buildPrompt({ systemPrompt: config.systemPrompt, pins, history, turnMessages }), onDelta, signal, clock);
      }
      if (signal.aborted) throw abortError(signal);
      if (result.text.trim().length === 0) {
        // Platforms refuse empty messages; say what happened instead of failing in the channel.
        observer?.providerError('E_PROVIDER_BAD_RESPONSE', provider.model, false);
        throw new ProviderError('E_PROVIDER_BAD_RESPONSE', `The model returned an empty answer (finish reason: ${result.finishReason ?? 'none'}). Send the message again or rephrase it.`, {
          context: { finishReason: result.finishReason },
        });
      }
      const text = result.text;
      await (clock === undefined ? reply.complete(text) : clock.span('deliver', () => reply.complete(text)));
    } catch (err) {
      const error = signal.aborted ? abortError(signal) : err;
      if (signal.aborted) counters.aborted += 1;
      else counters.failed += 1;
      try {
        await reply.cancel(signal.aborted ? 'aborted' : error instanceof ProviderError ? error.code : 'failed');
      } catch (cancelErr) {
        log.warn({ sessionKey, turnId: turn.id, err: cancelErr }, 'reply cancel failed');
      }
      await keepUsers(userEntries, turn.id);
      throw error;
    }

    // Delivered: record what the user said and the answer in one write. A store refusing it (disk full) does not
    // fail the turn: the user has the answer, and a failure notice under it would read as a second outcome. The
    // exchange is then missing from the conversation the model sees next time; that is logged.
    const assistantTokens = result.usage?.completionTokens ?? messageTokens(counter, result.text);
    // Reported usage was counted by the provider call; a server that reports none is counted by our estimate.
    if (result.usage === undefined) observer?.tokens(provider.model, { prompt: promptEstimate, completion: assistantTokens - MESSAGE_OVERHEAD_TOKENS });
    // Not awaited: the write is queued now, so it commits with the turn's outcome and run end, which are queued
    // as this function returns (one group commit instead of two in a row; both or neither survive a crash). A
    // later read of the session's history commits it first (the store's read-your-writes).
    userEntries.push({ sessionKey, role: 'assistant', content: result.text, tokens: assistantTokens + 4, runId: turn.id, at: now() });
    memory.appendHistory(userEntries).catch((err: unknown) => {
      log.error({ sessionKey, turnId: turn.id, err, code: (err as { code?: unknown }).code }, 'answer delivered but not recorded in the history');
    });
    counters.answered += 1;
    counters.retries += result.attempts - 1;
    if (result.usage !== undefined) meter.calibrate(promptEstimate, result.usage.promptTokens);
    // In place: the session was made the most recent one when this turn started.
    meter.update(sessionKey, promptEstimate + assistantTokens + 4);
    maybeCompact(sessionKey);
    if (config.classifier.enabled && result.text.length > 0 && !scorer.skipIfFull(sessionKey)) {
      const userText = turn.messages.map((m) => (named ? `${m.senderName}: ${m.text}` : m.text)).join('\n');
      void scorer.score(sessionKey, userText, result.text);
    }
    if (clock !== undefined) deps.onTiming?.(clock.finish(turn.id));
  }

  return {
    config,
    run,
    contextRatio: (sessionKey) => meter.ratio(sessionKey),
    prime,
    stats: () => ({
      turns: { answered: counters.answered, failed: counters.failed, aborted: counters.aborted },
      retries: counters.retries,
      overflowRecoveries: counters.overflowRecoveries,
      compactions: { ...compactor.counts },
      scoring: { ...scorer.counts },
    }),
    pinCommands: pinCommands(memory, { now }),
    compactor,
    scorer,
    meter,
    provider,
  };
}
