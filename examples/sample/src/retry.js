// The tinykv client's retry policy.

const RETRYABLE = new Set([429, 503]);

/**
 * Delay before the next attempt: Retry-After when the server sent it, otherwise
 * exponential backoff with full jitter, capped at maxDelay.
 */
function nextDelay(attempt, response, { base = 0.1, maxDelay = 30 } = {}) {
  const retryAfter = response && response.headers.get("Retry-After");
  if (retryAfter) {
    return Number(retryAfter);
  }
  return Math.random() * Math.min(maxDelay, base * 2 ** attempt);
}

/** Send a request, retrying 429 and 503 responses and network errors up to maxAttempts. */
async function fetchWithRetry(url, options = {}, maxAttempts = 5) {
  let last;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    try {
      last = await fetch(url, options);
      if (!RETRYABLE.has(last.status)) {
        return last;
      }
    } catch (error) {
      last = undefined; // connection reset or timeout: retry
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * nextDelay(attempt, last)));
  }
  throw new Error(`RetryError: gave up after ${maxAttempts} attempts`);
}

module.exports = { fetchWithRetry, nextDelay };
