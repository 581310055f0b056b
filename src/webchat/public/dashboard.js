// Switchyard dashboard: reads /admin/feed (Server-Sent Events) with fetch, so the admin token travels in the
// Authorization header (never in a URL), and draws lanes, sessions, recent outcomes and a throughput chart.
/* global window, document, sessionStorage, fetch, TextDecoder, AbortController */

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
let state = { lanes: [], sessions: [], recent: [], throughput: [], draining: false };

function setStatus(s, text) {
  statusEl.dataset.state = s;
  statusEl.textContent = text;
}

function cell(tr, text, className) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (className) td.className = className;
  tr.append(td);
  return td;
}

function ms(v) {
  if (!v) return '0';
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`;
}

function renderLanes() {
  const body = $('lanes').querySelector('tbody');
  body.replaceChildren();
  for (const lane of state.lanes) {
    const tr = document.createElement('tr');
    tr.dataset.lane = lane.name;
    cell(tr, lane.name);
    const td = cell(tr, '');
    const bar = document.createElement('span');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${Math.min(100, (100 * lane.active) / Math.max(1, lane.concurrency))}%`;
    bar.append(fill);
    const label = document.createElement('span');
    label.className = 'active';
    label.textContent = `${lane.active} / ${lane.concurrency}`;
    td.append(bar, label);
    cell(tr, lane.pending, 'pending');
    cell(tr, ms(lane.oldestWaitMs));
    cell(tr, ms(lane.maxWaitMs));
    cell(tr, lane.started);
    body.append(tr);
  }
}

function renderSessions() {
  const body = $('sessions').querySelector('tbody');
  body.replaceChildren();
  $('session-count').textContent = `(${state.sessions.length} busy)`;
  for (const s of state.sessions) {
    const tr = document.createElement('tr');
    tr.dataset.session = s.key;
    tr.dataset.state = s.state;
    cell(tr, s.key, 'key');
    cell(tr, s.mode);
    cell(tr, s.state, `state ${s.state}`);
    cell(tr, s.active);
    cell(tr, s.depth, 'depth');
    cell(tr, s.effectiveMaxConcurrent === s.maxConcurrent ? s.maxConcurrent : `${s.effectiveMaxConcurrent} (throttled)`);
    cell(tr, s.lane);
    body.append(tr);
  }
  if (state.sessions.length === 0) {
    const tr = document.createElement('tr');
    cell(tr, 'No session holds work right now.', 'empty').colSpan = 7;
    body.append(tr);
  }
}

function renderOutcomes() {
  const list = $('outcomes');
  list.replaceChildren();
  for (const o of state.recent) {
    const li = document.createElement('li');
    li.dataset.outcome = o.outcome;
    li.dataset.session = o.sessionKey;
    if (o.reason) li.dataset.reason = o.reason;
    const time = document.createElement('time');
    time.textContent = new Date(o.at).toLocaleTimeString();
    const badge = document.createElement('span');
    badge.className = `badge ${o.outcome}`;
    badge.textContent = o.reason ? `${o.outcome} (${o.reason})` : o.outcome;
    const who = document.createElement('span');
    who.className = 'key';
    who.textContent = o.sessionKey;
    li.append(time, badge, who);
    if (o.error) {
      const err = document.createElement('span');
      err.className = 'error';
      err.textContent = o.error;
      li.append(err);
    }
    list.append(li);
  }
}

function bucketFor(at) {
  const t = Math.floor(at / 1000) * 1000;
  let b = state.throughput[state.throughput.length - 1];
  if (!b || b.t < t) {
    b = { t, answered: 0, failed: 0, other: 0 };
    state.throughput.push(b);
    if (state.throughput.length > 120) state.throughput.shift();
  }
  return b;
}

function renderChart() {
  const canvas = $('throughput');
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const data = state.throughput;
  const max = Math.max(1, ...data.map((b) => b.answered + b.failed + b.other));
  const slot = w / 120;
  const colors = { answered: '#2e9d5b', failed: '#d64545', other: '#9aa3ad' };
  data.forEach((b, i) => {
    const x = w - (data.length - i) * slot;
    let y = h;
    for (const k of ['answered', 'failed', 'other']) {
      const bh = (b[k] / max) * (h - 14);
      ctx.fillStyle = colors[k];
      ctx.fillRect(x + 0.5, y - bh, Math.max(1, slot - 1), bh);
      y -= bh;
    }
  });
  ctx.fillStyle = '#555';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`max ${max}/s`, 4, 11);
  canvas.dataset.total = String(data.reduce((n, b) => n + b.answered + b.failed + b.other, 0));
}

function renderAll() {
  renderLanes();
  renderSessions();
  renderOutcomes();
  renderChart();
  document.body.dataset.draining = String(state.draining);
}

function onEvent(type, data) {
  if (type === 'snapshot') {
    state = data.snapshot;
    renderAll();
  } else if (type === 'outcome') {
    state.recent.unshift(data.outcome);
    state.recent.length = Math.min(state.recent.length, 50);
    const b = bucketFor(data.outcome.at);
    if (data.outcome.outcome === 'answered') b.answered += 1;
    else if (data.outcome.outcome === 'failed') b.failed += 1;
    else b.other += 1;
    renderOutcomes();
    renderChart();
  }
  // run:start / run:end are reflected by the next snapshot (every second).
}

function headers() {
  const token = sessionStorage.getItem('switchyard.adminToken');
  return token ? { authorization: `Bearer ${token}` } : {};
}

let retryMs = 500;
async function stream() {
  setStatus('connecting', 'connecting…');
  const controller = new AbortController();
  try {
    const res = await fetch('/admin/feed', { headers: headers(), signal: controller.signal, cache: 'no-store' });
    if (res.status === 401) {
      setStatus('offline', 'admin token needed');
      $('auth').hidden = false;
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    setStatus('online', 'live');
    retryMs = 500;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let sep;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const chunk = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        let type = 'message';
        let data = '';
        for (const line of chunk.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) onEvent(type, JSON.parse(data));
      }
    }
  } catch {
    // fall through to the retry below
  }
  setStatus('offline', `offline, retrying in ${Math.round(retryMs / 1000)} s`);
  window.setTimeout(stream, retryMs);
  retryMs = Math.min(retryMs * 2, 10_000);
}

$('auth').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem('switchyard.adminToken', $('token').value.trim());
  $('token').value = '';
  $('auth').hidden = true;
  void stream();
});

void stream();
