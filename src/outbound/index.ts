/**
 * Public surface of `src/outbound`: platform-neutral helpers for sending replies. Chunking Markdown at a
 * platform limit, streaming a preview message at a bounded edit rate, a typing indicator loop and per-chat
 * pacing. Telegram and Discord adapters both build on these.
 */
export { chunkMarkdown, splitMarkdown, MIN_CHUNK_LIMIT, type ChunkPiece } from './chunk-markdown.js';
export { scanFences, type FenceSpan } from './fences.js';
export { PreviewStreamer, type PreviewStreamerOptions, type PreviewState } from './preview-streamer.js';
export { TypingLoop, type TypingLoopOptions } from './typing-loop.js';
export { Pacer, sleep, type PaceRule } from './pacer.js';
