/**
 * The operator's replay: a log folded through the runtime's fold, with a
 * timeline, every actor's final state and the problems found (fold.ts), and
 * the printed report (report.ts). Shared by tools/replay.ts, the benchmarks
 * and the tests.
 */
export { CAUSES_KEPT, replay, type Problem, type ReplayOptions, type ReplayResult, type TimelineEntry } from './fold.js';
export { problemOf } from './problems.js';
export { formatEntry, formatOutcome, formatReplay } from './report.js';
export { stateOf, summarize } from './summary.js';
export { type LedTo, type ShownEvent } from './fold.js';
export { createTimelineBuilder, holesOf, recordingTimeline, unionOf, type Lane, type Mark, type MarkKind, type Timeline } from './timeline.js';
export { speechSpans, withSpeech } from './speech.js';
export { allTimelines } from './timeline.js';
export { timelineReportHtml } from './html.js';
