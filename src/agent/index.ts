/** Public surface of `src/agent`: LLM turns, context accounting, compaction, post-turn jobs. (Lands with issue 4.) */
export {};
