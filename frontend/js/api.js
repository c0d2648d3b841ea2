// The only module that talks to the server. Every answer is JSON; every failure is an ApiError.

const TIMEOUT_MS = 15_000;

/**
 * A failed request. `down` is true when the API could not be reached or failed on its side
 * (network error, timeout, 5xx): the page then says the API is down and keeps its last figures.
 */
export class ApiError extends Error {
  constructor(message, { status = 0, problem = null, down = false, aborted = false } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.down = down;
    this.aborted = aborted;
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

/** A client for the API at `base` ("" = this page's origin). */
export function createApi(base = "") {
  async function request(method, path, { params, headers, signal } = {}) {
    const url = `${base}${path}${query(params)}`;
    const guard = withTimeout(signal, TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { Accept: "application/json", ...headers },
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
    events: (params, signal) => request("GET", "/events", { params, signal }),
    /** POST /seed, with the admin token when one is given. */
    seed: (token) => request("POST", "/seed", {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    }),
  };
}
