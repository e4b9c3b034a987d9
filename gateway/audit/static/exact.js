// What a device sent, shown as it sent it. Its strings go in a <bdi> (a long one cut), so its
// right-to-left marks and overrides stay inside them instead of reordering the text around them.
// Its seqs run to 2^63-1, beyond the 2^53 a JS number holds exactly, so the fleet API is read with
// every such integer kept as a BigInt from its source text: a seq is shown, paged through and asked
// for exactly as stored.
import { api, ApiError, errorText, h } from "./core.js";

// A device's string is shown up to SHOWN characters (code points), the rest cut ("…"): the whole
// string is the element's title and stays in the signed JSON shown under each alert. Shown whole, a
// 10,000-character word that wraps anywhere took Chromium about 27 s to lay out on a phone-wide page.
const SHOWN = 200;

export function own(text) {
  const full = text === undefined || text === null ? "?" : String(text);
  const shown = cut(full);
  return h("bdi", { text: shown, title: shown === full ? null : full });
}

// A device's string cut as `own` shows it, for where it is an attribute (an image's alt text).
export function cut(text) {
  const full = String(text);
  if (full.length <= SHOWN) return full;
  const points = [];
  for (const point of full) {
    if (points.length === SHOWN) return `${points.join("")}…`;
    points.push(point);
  }
  return full;
}

function whole(key, value, context) {
  const source = context && context.source;
  return Number.isInteger(value) && !Number.isSafeInteger(value) && /^-?\d+$/.test(source || "") ? BigInt(source) : value;
}

export async function exact(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
  const text = await response.text();
  if (response.ok) return JSON.parse(text, whole);
  // Its error as every page shows it, and the login form on a 401, come from the API client asked
  // again. Should that asking be answered (a 503 for a moment), its answer was read without the
  // exact integers: this reading stays the failure it was, and the next refresh reads it exactly.
  await api(path);
  throw new ApiError(response.status, said(text) || `${response.status} ${response.statusText}`);
}

function said(text) {
  try {
    const answer = JSON.parse(text);
    return answer && typeof answer.error === "string" ? answer.error : null;
  } catch {
    return null;
  }
}

// The fleet API path of a device, or null when no URL can name it: "." and ".." are path steps
// (/v1/devices/.. is /v1/ to a browser, and so is %2E%2E), which the keys file refuses but the topic
// of a rejected message can still bring; a lone surrogate makes encodeURIComponent throw.
export function devicePath(deviceId) {
  const id = String(deviceId);
  if (id === "." || id === "..") return null;
  try {
    return `/v1/devices/${encodeURIComponent(id)}`;
  } catch {
    return null;
  }
}

// JSON text of a value read by `exact`, each BigInt written back as the number it was.
export function jsonText(value) {
  return JSON.stringify(value, (key, item) => (typeof item === "bigint" ? JSON.rawJSON(String(item)) : item), 2);
}

// How many signing keys the keys file lists for a device: a count, never the keys. An audit that
// predates the count answers none, shown as unknown rather than as a device without a key.
export function keyCount(keys) {
  if (typeof keys !== "number" && typeof keys !== "bigint") return "–";
  return keys ? String(keys) : "none";
}

// A page's refreshes overlap (a click's refresh starts while the background one is on its way) and
// their answers can come back in any order: the older answer was drawn over the newer page. Each
// refresh takes a turn first and draws only while `current()` says its turn is still the newest.
export function turns() {
  let newest = 0;
  return () => {
    newest += 1;
    const mine = newest;
    return () => mine === newest;
  };
}

// A page's status line says what its latest refresh found, styled as an error only while that
// refresh failed: the pages set the error style on a failure alone, so once the audit service was
// unreachable for one refresh, every later "Alerts ..." or device count stayed red.
export function say(line, ...content) {
  line.className = "muted";
  line.replaceChildren(...content);
}

export function sayFailure(line, error) {
  line.className = "error";
  line.textContent = errorText(error);
}
