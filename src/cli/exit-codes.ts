/**
 * Exit codes of `switchyard`, stable so scripts can rely on them: 0 ok, 2 the config file is bad (missing,
 * unreadable, invalid, or names an unset variable), 1 anything else (usage errors, an unreachable gateway,
 * a refused request, a failed backup).
 */
export const EXIT = { ok: 0, failure: 1, badConfig: 2 } as const;
/** One of the exit codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
