// retry.js - when the dashboard asks again after a failed read, and when it gives up.
// Pure (no DOM), so the browser tests import it. The server answers 503 with Retry-After
// when too many results are queued and 429 with Retry-After past a rate limit: the page
// waits what it is told (at least a second), a few times, then leaves a "Try again" button.

/** Automatic attempts after the first failure, at most. */
export const MAX_RETRIES = 5;
/** A Retry-After longer than this (seconds) is not waited for automatically. */
export const MAX_WAIT_S = 60;

/** Statuses worth asking again: overloaded, rate-limited, a proxy's or the network's. */
const TRANSIENT = new Set([0, 429, 502, 503, 504]);

/**
 * Seconds to wait before attempt `attempt + 1` (0 after the first failure) of a read that
 * failed with `err` (an ApiError), or null when the page should not ask again by itself:
 * the error will not pass (400, 404, 500), the attempts are spent, or the server asks for
 * longer than MAX_WAIT_S. With Retry-After the wait is what it says (at least 1 s); without,
 * 2, 4, 8, 16, 30 s.
 */
export function retryDelay(err, attempt) {
  if (!err || attempt >= MAX_RETRIES) return null;
  const ra = typeof err.retryAfter === 'number' && Number.isFinite(err.retryAfter) ? err.retryAfter : null;
  if (!TRANSIENT.has(err.status) && ra === null) return null;
  if (ra !== null) return ra > MAX_WAIT_S ? null : Math.max(1, ra);
  return Math.min(30, 2 ** (attempt + 1));
}
