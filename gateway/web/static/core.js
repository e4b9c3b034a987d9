// Shared helpers: DOM building without innerHTML (text is always text), the API client with the
// session's CSRF token (refreshed once when another tab's login replaced it), and number/time
// formatting.

export const session = { required: false, authenticated: false, csrf: null };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorizedHandler = () => {};
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

// A state-changing request refused (403) because a login in another tab replaced the session (the
// cookie now names a session with another CSRF token) is sent once more with the new session's
// token: the check refuses before any handler runs, so nothing is done twice. Any other refusal,
// or a token that did not change, stands.
export async function api(path, { method = "GET", body } = {}) {
  const sent = session.csrf;
  try {
    return await send(path, method, body, sent);
  } catch (error) {
    if (!(await tokenReplaced(error, method, sent))) throw error;
    return send(path, method, body, session.csrf);
  }
}

async function tokenReplaced(error, method, sent) {
  if (SAFE_METHODS.has(method) || !(error instanceof ApiError) || error.status !== 403) return false;
  let state;
  try {
    state = await send("/v1/session", "GET");
  } catch {
    return false; // the refusal is the answer worth showing, not why its retry could not start
  }
  if (!state || !state.csrf_token || state.csrf_token === sent) return false;
  session.csrf = state.csrf_token;
  return true;
}

async function send(path, method, body, csrf) {
  // The session this request is sent in (each login has a CSRF token of its own): a 401 that answers
  // a request sent before the session in force now (a refresh on its way across a logout and a new
  // login) is not this session's end, and showed the login form again just after the login.
  const sentIn = session.csrf;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE_METHODS.has(method) && csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && path !== "/v1/session" && session.csrf === sentIn) unauthorizedHandler();
    throw new ApiError(response.status, (data && data.error) || `${response.status} ${response.statusText}`);
  }
  return data;
}

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Makes `nodes` the element children of `parent`, in their order, moving only those out of place, and
// those in place where the browser can (moveBefore): a page that rebuilt its list at every refresh, or
// took its nodes out and put them back, dropped the keyboard's focus to the document's body.
export function showInOrder(parent, nodes) {
  const kept = new Set(nodes);
  for (const child of [...parent.children]) {
    if (!kept.has(child)) child.remove();
  }
  let previous = null;
  for (const node of nodes) {
    placeAfter(parent, node, previous);
    previous = node;
  }
}

// Puts `node` right after `previous` in `parent` (first, when null), unless it is there already.
export function placeAfter(parent, node, previous) {
  const place = previous ? previous.nextElementSibling : parent.firstElementChild;
  if (place === node) return;
  if (node.isConnected && parent.moveBefore) parent.moveBefore(node, place);
  else parent.insertBefore(node, place);
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.flatMap(([name, value, attributes]) => [
    h("dt", { text: name }),
    h("dd", attributes || {}, value),
  ]));
}

export function fixed(value, digits = 1) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

// A count and its noun: "1 event", "3 events" ("1 events" read as a slip).
export function counted(count, noun) {
  return `${count} ${Number(count) === 1 ? noun : `${noun}s`}`;
}

export function clock(iso) {
  if (!iso) return "–";
  const date = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

// The line over what a failed refresh left shown: when it was read, and that what it says is not
// known to hold now (unknown: "the gateway's state now is unknown").
export function asReadText(readAt, unknown) {
  return `What follows was read at ${clock(readAt)}; ${unknown}.`;
}

// That line as a paragraph a page places once and shows or hides after each refresh.
export function asReadLine(unknown) {
  const element = h("p", { class: "muted", hidden: true });
  return {
    element,
    show(readAt) {
      element.textContent = asReadText(readAt, unknown);
      element.hidden = false;
    },
    hide() {
      element.hidden = true;
    },
  };
}

export function duration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const whole = Math.max(0, Math.round(seconds));
  const days = Math.floor(whole / 86400);
  const hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min ${rest} s`;
  return `${rest} s`;
}

export function errorText(error) {
  return error instanceof ApiError ? error.message : `the gateway did not answer (${error.message})`;
}

// A page's filters are part of its address (`#/events/camera=gate&label=person`, the query escaped
// once more as the router unescapes it once): a step back to the page from another, or a reload,
// showed it unfiltered again, whatever had been chosen. chosenIn reads them back from the router's
// parameter; an unreadable one is no filter.
export function chosenIn(query) {
  try {
    return new URLSearchParams(query || "");
  } catch {
    return new URLSearchParams();
  }
}

// The address `base` with the non-empty controls of `fields` (name -> control) as its query.
export function keepInAddress(base, fields) {
  const query = new URLSearchParams(Object.entries(fields).filter(([, control]) => control.value).map(([key, control]) => [key, control.value])).toString();
  const address = query ? `${base}/${encodeURIComponent(query)}` : base;
  if (location.hash !== address) history.replaceState(history.state, "", address);
}
