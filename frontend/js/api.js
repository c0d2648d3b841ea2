// The only module that talks to the server. Every answer is JSON; every failure is an ApiError.

const TIMEOUT_MS = 15_000;
// The reader's token lives as long as the browser tab (never in localStorage, never in the URL).
const TOKEN_KEY = "factory-floor-token";

/**
 * A failed request. `down` is true when the API could not be reached or failed on its side
 * (network error, timeout, 5xx): the page then says the API is down and keeps its last figures.
 */
export class ApiError extends Error {
  constructor(message, { status = 0, problem = null, down = false, aborted = false, needsToken = false } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.down = down;
    this.aborted = aborted;
    this.needsToken = needsToken;
  }
}

/** The token kept for this tab, or "" (storage may be unavailable: then nothing is kept). */
function storedToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function storeToken(token) {
  try {
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (a private mode): the token lasts until the page is left.
  }
}

/** Query string from `{name: value}`, leaving out empty values. */
function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The text a person should read for a problem-details body. */
function problemMessage(problem, status) {
  if (problem && typeof problem === "object") {
    const parts = [problem.title, problem.detail].filter((part) => typeof part === "string" && part);
    if (Array.isArray(problem.errors) && problem.errors.length) {
      parts.push(problem.errors.map((e) => `${e.field}: ${e.message}`).join("; "));
    }
    if (parts.length) return parts.join(" — ");
  }
  return `The server answered ${status}.`;
}

/** An AbortSignal that fires when `outer` does or after `ms`; `timedOut()` tells which. */
function withTimeout(outer, ms) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, ms);
  const onAbort = () => controller.abort();
  if (outer) {
    if (outer.aborted) controller.abort();
    else outer.addEventListener("abort", onAbort, { once: true });
  }
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => { clearTimeout(timer); if (outer) outer.removeEventListener("abort", onAbort); },
  };
}

/**
 * A client for the API at `base` ("" = this page's origin).
 *
 * Every request carries the tab's token once there is one. A read refused for want of a token
 * (401), or for a token not accepted (403), calls `askToken(reason)` — `reason` is "needed" or
 * "rejected" — which resolves to a token, or to "" when the person declines; the read is then
 * sent again. Reads that fail at once share one question. After a refusal nothing is asked
 * until `askAgain()`.
 */
export function createApi(base = "", { askToken = null } = {}) {
  let token = storedToken();
  let asking = null; // the question being asked, shared by every read waiting for it
  let declined = false;

  function setToken(value) {
    token = value;
    storeToken(value);
  }

  /** A token to send the read again with, or "" when there is none to be had. */
  function tokenAfterRefusal(sent, status) {
    if (asking) return asking;
    if (token && token !== sent) return Promise.resolve(token); // another read got a new one meanwhile
    if (!askToken || declined) return Promise.resolve("");
    const reason = sent && status === 403 ? "rejected" : "needed";
    asking = Promise.resolve(askToken(reason)).then((answer) => {
      asking = null;
      const given = (answer || "").trim();
      setToken(given); // a token refused and not replaced is dropped
      declined = !given;
      return given;
    });
    return asking;
  }

  async function request(method, path, options = {}) {
    const read = method === "GET";
    for (;;) {
      const sent = token;
      try {
        return await send(method, path, sent, options);
      } catch (error) {
        if (!read || !(error.status === 401 || (error.status === 403 && sent))) throw error;
        const next = await tokenAfterRefusal(sent, error.status);
        if (!next) {
          throw new ApiError("This server shows its figures only with a token. Choose “Enter token” to give one.", {
            status: error.status, problem: error.problem, needsToken: true,
          });
        }
      }
    }
  }

  async function send(method, path, sent, { params, headers, signal } = {}) {
    const url = `${base}${path}${query(params)}`;
    const guard = withTimeout(signal, TIMEOUT_MS);
    const auth = sent ? { Authorization: `Bearer ${sent}` } : {};
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { Accept: "application/json", ...auth, ...headers },
        signal: guard.signal,
        cache: "no-cache", // revalidate every poll: an unchanged answer comes back as a small 304
      });
    } catch (error) {
      guard.done();
      if (guard.timedOut()) throw new ApiError(`no answer within ${TIMEOUT_MS / 1000} s.`, { down: true });
      if (signal && signal.aborted) throw new ApiError("Request cancelled.", { aborted: true });
      throw new ApiError("no connection to the server.", { down: true });
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    } finally {
      guard.done();
    }
    if (!response.ok) {
      const down = response.status >= 500;
      throw new ApiError(problemMessage(body, response.status), { status: response.status, problem: body, down });
    }
    if (body === null || typeof body !== "object") {
      throw new ApiError("the answer was not JSON.", { status: response.status, down: true });
    }
    return body;
  }

  return {
    base,
    /** Whether this tab holds a token. */
    hasToken: () => Boolean(token),
    /** Ask for a token again on the next refused read (after the person declined once). */
    askAgain: () => { declined = false; },
    settings: (signal) => request("GET", "/settings", { signal }),
    sites: (signal) => request("GET", "/sites", { signal }),
    workerList: (signal) => request("GET", "/workers", { signal }),
    workstationList: (signal) => request("GET", "/workstations", { signal }),
    factory: (params, signal) => request("GET", "/metrics/factory", { params, signal }),
    workers: (params, signal) => request("GET", "/metrics/workers", { params, signal }),
    workstations: (params, signal) => request("GET", "/metrics/workstations", { params, signal }),
    timeline: (params, signal) => request("GET", "/metrics/timeline", { params, signal }),
    hourly: (params, signal) => request("GET", "/metrics/hourly", { params, signal }),
    models: (params, signal) => request("GET", "/metrics/models", { params, signal }),
    drift: (params, signal) => request("GET", "/metrics/drift", { params, signal }),
    /** GET /metrics/dashboard: every part of the page for one window (`width`: the charts' pixels). */
    dashboard: (params, signal) => request("GET", "/metrics/dashboard", { params, signal }),
    events: (params, signal) => request("GET", "/events", { params, signal }),
    /** GET /metrics/shifts: the shift instances overlapping `from`..`to`, each with its figures. */
    shifts: (params, signal) => request("GET", "/metrics/shifts", { params, signal }),
    calendar: (signal) => request("GET", "/calendar", { signal }),
    alerts: (params, signal) => request("GET", "/alerts", { params, signal }),
    /** POST /seed, with the admin token when one is given; `replaceAll` deletes events the demo did not load. */
    seed: (adminToken, { replaceAll = false } = {}) => request("POST", "/seed", {
      params: replaceAll ? { replace: "all" } : {},
      headers: adminToken ? { Authorization: `Bearer ${adminToken}` } : {},
    }),
  };
}
