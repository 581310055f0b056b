/** Public surface of `src/fakes`: loopback fakes of the services Switchyard talks to, for tests and the demo. */
export {
  FakeOpenAIServer,
  startFakeOpenAI,
  fakePromptTokens,
  type FakeOpenAIServerOptions,
  type FakeStep,
  type FakeChatRequest,
  type FakeChatMessage,
  type FakeUsage,
  type RecordedRequest,
  type FakeServerListener,
} from './openai-server.js';
