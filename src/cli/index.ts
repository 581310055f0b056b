/**
 * Public surface of `src/cli`: the command line as a function (`runCli`), for the executable and for tests.
 */
export { runCli, configFileOf, adminUrlOf, type CliIo, type CliSignal, type RunningGateway } from './run.js';
export { AdminClient, AdminRequestError, type AdminClientOptions } from './admin-client.js';
export { EXIT, type ExitCode } from './exit-codes.js';
