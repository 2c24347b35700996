import type { IncomingHttpHeaders } from "node:http";

/**
 * Whether a state-changing request comes from the console's own pages. Browsers send Origin on every POST and
 * Sec-Fetch-Site on every request; a form posted from another site carries that site's Origin and "cross-site". The
 * expected origin is built from the Host the browser addressed, so the console works under any name it is reached by.
 */
export function isSameOrigin(headers: IncomingHttpHeaders, scheme: "http" | "https"): boolean {
  const fetchSite = headers["sec-fetch-site"];
  if (fetchSite !== undefined && fetchSite !== "same-origin") return false;
  const host = headers.host;
  return host !== undefined && headers.origin === `${scheme}://${host}`;
}
