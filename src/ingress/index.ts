/** Public surface of `src/ingress`: the gateway's single door for inbound messages. */
export {
  Ingress,
  MalformedMessageError,
  replyTargetOf,
  type AccessGate,
  type AccessVerdict,
  type CommandHandler,
  type IngressDeps,
} from './ingress.js';
