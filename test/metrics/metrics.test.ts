import { describe, expect, it } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { Metrics, bindScheduler } from '../../src/metrics/index.js';
import { flush, gatedScheduler, msg } from '../http/helpers.js';

/** The value of one series line, e.g. `switchyard_queue_depth 3`. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Metrics', () => {
  it('uses its own registry: two instances never share counters, the global registry stays empty', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: false });
    a.outcome('answered');
    a.outcome('answered');
    b.outcome('failed', 'error');
    const ta = await a.registry.metrics();
    const tb = await b.registry.metrics();
    expect(value(ta, 'switchyard_messages_total{outcome="answered",reason=""}')).toBe(2);
    expect(value(tb, 'switchyard_messages_total{outcome="answered",reason=""}')).toBeUndefined();
    expect(value(tb, 'switchyard_messages_total{outcome="failed",reason="error"}')).toBe(1);
    expect(await globalRegistry.metrics()).not.toContain('switchyard_');
  });

  it('counts tokens, provider errors, compactions, outbound 429s and inbound messages by bounded labels', async () => {
    const m = new Metrics({ processMetrics: false });
    m.tokens('qwen2.5:7b', { prompt: 120, completion: 30 });
    m.tokens('qwen2.5:7b', { prompt: 80, completion: 0 });
    m.providerError('E_PROVIDER_RATE_LIMITED', 'qwen2.5:7b', true);
    m.providerError('E_PROVIDER_RATE_LIMITED', 'qwen2.5:7b', true);
    m.providerError('E_PROVIDER_RATE_LIMITED', 'qwen2.5:7b', false);
    m.compaction('applied');
    m.compaction('discarded');
    m.outboundRateLimited('tg-main');
    m.inboundMessage('local', 'accepted');
    const t = await m.registry.metrics();
    expect(value(t, 'switchyard_tokens_total{model="qwen2.5:7b",kind="prompt"}')).toBe(200);
    expect(value(t, 'switchyard_tokens_total{model="qwen2.5:7b",kind="completion"}')).toBe(30);
    expect(value(t, 'switchyard_provider_errors_total{code="E_PROVIDER_RATE_LIMITED",model="qwen2.5:7b",retried="true"}')).toBe(2);
    expect(value(t, 'switchyard_provider_errors_total{code="E_PROVIDER_RATE_LIMITED",model="qwen2.5:7b",retried="false"}')).toBe(1);
    expect(value(t, 'switchyard_compactions_total{result="applied"}')).toBe(1);
    expect(value(t, 'switchyard_compactions_total{result="discarded"}')).toBe(1);
    expect(value(t, 'switchyard_compactions_total{result="timeout"}')).toBe(0); // every result exported from the start
    expect(value(t, 'switchyard_outbound_rate_limited_total{channel="tg-main"}')).toBe(1);
    expect(value(t, 'switchyard_inbound_messages_total{channel="local",status="accepted"}')).toBe(1);
  });

  it('exports process metrics with the switchyard_ prefix when asked (default)', async () => {
    const m = new Metrics();
    const t = await m.registry.metrics();
    expect(t).toContain('switchyard_process_resident_memory_bytes');
    expect(t).toContain('switchyard_nodejs_eventloop_lag_seconds');
  });

  it('applies default labels', async () => {
    const m = new Metrics({ processMetrics: false, defaultLabels: { instance: 'a' } });
    m.outcome('stale', 'stale');
    expect(await m.registry.metrics()).toContain('switchyard_messages_total{outcome="stale",reason="stale",instance="a"} 1');
  });
});

describe('bindScheduler', () => {
  it('reads lane and queue gauges from the scheduler at scrape time', async () => {
    const { scheduler, gates } = gatedScheduler({ main: 1, subagent: 1, background: 1 });
    const m = new Metrics({ processMetrics: false });
    bindScheduler(m, scheduler);
    scheduler.submit(msg('a'));
    scheduler.submit(msg('a'));
    scheduler.submit(msg('a'));
    scheduler.submit(msg('b'));
    await flush();
    const t = await m.registry.metrics();
    expect(value(t, 'switchyard_lane_active{lane="main"}')).toBe(1);
    expect(value(t, 'switchyard_lane_pending{lane="main"}')).toBe(1); // b waits for the lane
    expect(value(t, 'switchyard_lane_concurrency{lane="main"}')).toBe(1);
    expect(value(t, 'switchyard_queue_depth')).toBe(2); // a's two follow-ups
    expect(value(t, 'switchyard_sessions_busy')).toBe(2);
    gates[0]!.resolve();
    await scheduler.drain({ deadlineMs: 0 });
  });

  it('observes lane wait, run duration by outcome, and every outcome; unbinding stops it', async () => {
    let clock = 1_000_000;
    const { scheduler, gates } = gatedScheduler({ main: 1, subagent: 1, background: 1 }, () => clock);
    const m = new Metrics({ processMetrics: false });
    const unbind = bindScheduler(m, scheduler);
    const a = msg('a');
    scheduler.submit(a);
    scheduler.submit(msg('b')); // waits for the lane until a ends
    await flush();
    clock += 1_500; // a runs 1.5 s while b waits for the lane
    gates[0]!.resolve();
    await flush();
    expect(gates).toHaveLength(2);
    scheduler.stop('b');
    await flush();
    let t = await m.registry.metrics();
    expect(value(t, 'switchyard_messages_total{outcome="answered",reason=""}')).toBe(1);
    expect(value(t, 'switchyard_messages_total{outcome="cancelled",reason="stop"}')).toBe(1);
    expect(value(t, 'switchyard_run_duration_seconds_count{lane="main",outcome="answered"}')).toBe(1);
    expect(value(t, 'switchyard_run_duration_seconds_sum{lane="main",outcome="answered"}')).toBe(1.5);
    expect(value(t, 'switchyard_run_duration_seconds_bucket{le="1",lane="main",outcome="answered"}')).toBe(0);
    expect(value(t, 'switchyard_run_duration_seconds_bucket{le="2.5",lane="main",outcome="answered"}')).toBe(1);
    expect(value(t, 'switchyard_lane_wait_seconds_count{lane="main"}')).toBe(2);
    // a started at once; b waited the 1.5 s a was running
    expect(value(t, 'switchyard_lane_wait_seconds_sum{lane="main"}')).toBe(1.5);
    unbind();
    scheduler.submit(msg('c'));
    await flush();
    gates[2]!.resolve();
    await flush();
    t = await m.registry.metrics();
    expect(value(t, 'switchyard_messages_total{outcome="answered",reason=""}')).toBe(1);
    expect(value(t, 'switchyard_lane_active{lane="main"}')).toBeUndefined();
    await scheduler.drain({ deadlineMs: 0 });
  });
});
