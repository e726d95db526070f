/** The query string of a request URL. */

/** The query string of `url` (without `?`), or null when there is none. */
export function queryOf(url: string | undefined): string | null {
  if (url === undefined) return null;
  const q = url.indexOf('?');
  return q < 0 ? null : url.slice(q + 1);
}

/** The query parameters of `url` (empty when it has none). */
export function queryParams(url: string | undefined): URLSearchParams {
  return new URLSearchParams(queryOf(url) ?? '');
}
