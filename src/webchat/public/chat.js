// Switchyard webchat page: one WebSocket to /ws/chat, the protocol in src/webchat/protocol.ts.
// Plain browser JavaScript, no framework. Text is only ever set with textContent (never HTML).
/* global window, document, localStorage, WebSocket, crypto, CSS */

const $ = (id) => document.getElementById(id);
const messages = $('messages');
const input = $('input');
const stopButton = $('stop');
const statusEl = $('status');

/** The browser's stable id: every tab and reload continues the same conversation. */
function clientId() {
  let id = localStorage.getItem('switchyard.clientId');
  if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    id = crypto.randomUUID().replace(/-/g, '');
    localStorage.setItem('switchyard.clientId', id);
  }
  return id;
}

let counter = 0;
/** Time-ordered decimal ids, so the gateway can compare them for /stopall cutoffs. */
function nextMessageId() {
  counter = (counter + 1) % 1000;
  return String(Date.now() * 1000 + counter);
}

let socket = null;
let ready = false;
let retryMs = 500;
/** Frames sent while disconnected; re-sent after `ready` (a clientMessageId makes that idempotent). */
const unsent = [];
/** Replies being streamed: runId → bubble. */
const replies = new Map();
/** User messages waiting for an answer: clientMessageId → bubble. */
const waiting = new Map();

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function scrollDown() {
  messages.scrollTop = messages.scrollHeight;
  window.scrollTo(0, document.body.scrollHeight);
}

function bubble(kind, text) {
  const li = document.createElement('li');
  li.className = `msg ${kind}`;
  const body = document.createElement('div');
  body.className = 'body';
  body.textContent = text;
  li.append(body);
  messages.append(li);
  scrollDown();
  return li;
}

function setNote(li, text) {
  let note = li.querySelector('.note');
  if (!note) {
    note = document.createElement('div');
    note.className = 'note';
    li.append(note);
  }
  note.textContent = text;
}

function updateStop() {
  stopButton.disabled = replies.size === 0 && waiting.size === 0;
}

function send(frame) {
  if (ready && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  else unsent.push(frame);
}

function connect() {
  setStatus('connecting', 'connecting…');
  const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws/chat`;
  socket = new WebSocket(url);
  socket.addEventListener('open', () => {
    socket.send(JSON.stringify({ type: 'hello', clientId: clientId() }));
  });
  socket.addEventListener('message', (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  });
  socket.addEventListener('close', () => {
    ready = false;
    setStatus('offline', `offline, retrying in ${Math.round(retryMs / 1000)} s`);
    window.setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  });
}

function handle(frame) {
  switch (frame.type) {
    case 'ready': {
      ready = true;
      retryMs = 500;
      setStatus('online', 'online');
      document.body.dataset.session = frame.sessionKey;
      for (const f of unsent.splice(0)) socket.send(JSON.stringify(f));
      break;
    }
    case 'history': {
      // A reload: show the conversation so far (sent on every hello, before live frames). After a reconnect the
      // page already shows it, with anything typed meanwhile: keep the page as it is.
      if (messages.childElementCount > 0) break;
      for (const line of frame.entries) {
        const li = bubble(line.role === 'user' ? 'user' : 'assistant', line.text);
        li.dataset.history = 'true';
        if (line.runId) li.dataset.runId = line.runId;
        if (line.role === 'assistant') li.dataset.state = 'done';
      }
      break;
    }
    case 'ack': {
      const li = waiting.get(frame.clientMessageId);
      if (!li) break;
      li.dataset.status = frame.status;
      if (frame.status === 'accepted') setNote(li, 'queued');
      else if (frame.status === 'duplicate') setNote(li, 'already received');
      else {
        waiting.delete(frame.clientMessageId);
        if (frame.status === 'denied') setNote(li, 'not allowed');
        else if (frame.status === 'ignored') setNote(li, 'ignored');
        else li.querySelector('.note')?.remove();
      }
      updateStop();
      break;
    }
    case 'reply:start':
    case 'reply:delta': {
      let li = replies.get(frame.runId);
      if (!li) {
        li = bubble('assistant streaming', '');
        li.dataset.runId = frame.runId;
        replies.set(frame.runId, li);
        // The reply has started: the user's messages are being answered.
        for (const [id, w] of waiting) {
          setNote(w, '');
          w.querySelector('.note')?.remove();
          waiting.delete(id);
        }
      }
      if (frame.type === 'reply:delta') li.querySelector('.body').textContent += frame.text;
      scrollDown();
      updateStop();
      break;
    }
    case 'reply:done': {
      // Already shown (streamed here, or in the history a reload brought): replace the text, never duplicate.
      let li = replies.get(frame.runId) ?? messages.querySelector(`li[data-run-id="${CSS.escape(frame.runId)}"]`);
      if (!li) {
        li = bubble('assistant', '');
        li.dataset.runId = frame.runId;
      }
      li.querySelector('.body').textContent = frame.text;
      li.classList.remove('streaming');
      li.dataset.state = 'done';
      replies.delete(frame.runId);
      for (const [id, w] of waiting) {
        w.querySelector('.note')?.remove();
        waiting.delete(id);
      }
      scrollDown();
      updateStop();
      break;
    }
    case 'reply:cancel': {
      const li = replies.get(frame.runId);
      if (li) {
        li.classList.remove('streaming');
        li.classList.add('stopped');
        li.dataset.state = 'stopped';
        setNote(li, `stopped (${frame.reason})`);
        replies.delete(frame.runId);
      }
      updateStop();
      break;
    }
    case 'notice': {
      bubble('notice', frame.text);
      // A notice answers a command or reports a drop / failure: nothing is waiting on the queue note anymore.
      for (const [id, w] of waiting) {
        if (w.dataset.status !== 'accepted') waiting.delete(id);
      }
      updateStop();
      break;
    }
    case 'error': {
      bubble('notice error', `${frame.message} [${frame.code}]`);
      if (frame.clientMessageId) waiting.delete(frame.clientMessageId);
      updateStop();
      break;
    }
    default:
      break;
  }
}

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  const clientMessageId = nextMessageId();
  const li = bubble('user', text);
  li.dataset.clientMessageId = clientMessageId;
  waiting.set(clientMessageId, li);
  setNote(li, ready ? 'sending' : 'will send when online');
  updateStop();
  send({ type: 'message', text, clientMessageId });
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

stopButton.addEventListener('click', () => {
  send({ type: 'command', name: 'stop', clientMessageId: nextMessageId() });
});

connect();
