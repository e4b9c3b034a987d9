// Devices page: every device of the fleet with its state, problems first, then offline, then by id;
// each links to its timeline. The numbers come from the audit store, so any instance shows the same.
import { asReadLine, clock, counted, fixed, h, showInOrder } from "./core.js";
import { devicePath, exact, jsonText, keyCount, own, say, sayFailure } from "./exact.js";

const PAGE = 1000; // the API's largest page of devices

// Every device, page by page (/v1/devices answers at most PAGE of them at a time), with the summary
// of the last page read: the newest.
async function everyDevice() {
  const devices = [];
  let after = null;
  for (;;) {
    const page = await exact(`/v1/devices?limit=${PAGE}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
    devices.push(...page.devices);
    const next = page.next_after ?? null;
    // A cursor that does not move on would ask for the same page for ever.
    if (next === null || next === after) return { devices, summary: page.summary };
    after = next;
  }
}

export function rank(device) {
  if (device.problems.length && device.state !== "online") return 0;
  if (device.problems.length) return 1;
  return device.state === "online" ? 3 : 2;
}

export function ordered(devices) {
  return [...devices].sort((a, b) => rank(a) - rank(b) || a.device_id.localeCompare(b.device_id));
}

// On a phone the table is a list with no heading row: each cell names its column (data-label).
const COLUMNS = ["Device", "State", "Last seq", "Last alert", "Delivery delay", "Missing", "Rejected", "Keys", "Problems"];

// current: whether the device is as the latest refresh read it; one read by an older refresh shows
// its state in no colour, as it may be another now.
function row(device, current) {
  const colour = !current ? "" : device.state === "online" ? "ok" : device.state === "offline" ? "bad" : "warn";
  const state = h("span", { class: `pill ${colour}`.trim(), text: device.state });
  const problems = device.problems.length
    ? h("ul", { class: "problems" }, device.problems.map((problem) => h("li", {}, own(problem))))
    : h("span", { class: current ? "ok" : "", text: "none" });
  return h("tr", { "data-device": device.device_id, class: device.problems.length ? "problem" : "" },
    h("th", { scope: "row", "data-label": "Device" }, devicePath(device.device_id) === null
      ? own(device.device_id)
      : h("a", { href: `#/device/${encodeURIComponent(device.device_id)}` }, own(device.device_id))),
    h("td", { "data-label": "State" }, state),
    h("td", { class: "number", "data-label": "Last seq", text: String(device.last_seq) }),
    h("td", { "data-label": "Last alert", text: clock(device.last_alert_at) }),
    h("td", { class: "number", "data-label": "Delivery delay", text: device.delivery_delay_s === null ? "–" : `${fixed(device.delivery_delay_s, 1)} s` }),
    h("td", { class: "number", "data-label": "Missing", text: String(device.missing_alerts) }),
    h("td", { class: "number", "data-label": "Rejected", text: String(device.rejected) }),
    h("td", { class: "number", "data-label": "Keys", text: keyCount(device.keys) }),
    h("td", { "data-label": "Problems" }, problems));
}

export function mount(view) {
  const message = h("p", { role: "status", class: "muted" });
  const asRead = asReadLine("the devices' states now are unknown");
  const filter = h("input", { id: "device-filter", type: "search", placeholder: "device id" });
  const body = h("tbody");
  const table = h("table", { class: "fleet" },
    h("thead", {}, h("tr", {}, COLUMNS.map((text) => h("th", { scope: "col", text })))),
    body);
  view.append(
    h("h1", { text: "Devices" }),
    h("form", { class: "filters", onsubmit: (event) => event.preventDefault() },
      h("div", {}, h("label", { for: "device-filter", text: "Find a device" }), filter)),
    message,
    asRead.element,
    table,
  );
  let answer = null; // the last list read, and when (readAt)
  let failed = false; // the latest refresh failed: the rows are those of an older one
  // Each device's row as last drawn, and what it was drawn from. A refresh updates the rows in place:
  // every row rebuilt every 2 s took the keyboard's focus off a device's link, to the document's body.
  const rows = new Map();

  function rowOf(device, current) {
    const drawn = `${current} ${jsonText(device)}`;
    const known = rows.get(device.device_id);
    if (known && known.drawn === drawn) return known.element;
    const fresh = row(device, current);
    if (!known) {
      rows.set(device.device_id, { element: fresh, drawn });
      return fresh;
    }
    // The row's first cell, the device's link, is the same for as long as the device is listed:
    // it stays, and the focus on it with it; the others are the new row's.
    const cells = [...fresh.cells];
    [...known.element.cells].slice(1).forEach((cell, index) => cell.replaceWith(cells[index + 1]));
    known.element.className = fresh.className;
    known.drawn = drawn;
    return known.element;
  }

  function render() {
    if (!answer) return;
    const listed = new Set(answer.devices.map((device) => device.device_id));
    for (const id of [...rows.keys()]) {
      if (!listed.has(id)) rows.delete(id);
    }
    const wanted = filter.value.trim().toLowerCase();
    const shown = ordered(answer.devices).filter((device) => device.device_id.toLowerCase().includes(wanted));
    showInOrder(body, shown.map((device) => rowOf(device, !failed)));
    // The rows of a failed refresh stayed in their states' colours under its error, read as the
    // fleet now: they are said to be as old as they are.
    if (failed) asRead.show(answer.readAt);
    else asRead.hide();
    // The problems of rows an older refresh read stayed marked in red, as the fleet's problems now:
    // they stay listed, and the stylesheet paints a stale table's problems in no state's colour.
    table.classList.toggle("stale", failed);
    // A filter typed after a failed refresh drew the count over its error, and the stale list
    // looked current: the error stays until a refresh succeeds (and is not said again each key).
    if (failed) return;
    const s = answer.summary;
    say(message, `${counted(s.devices, "device")}: ${s.online} online, ${s.offline} offline, ${s.unknown} unknown; `
      + `${s.with_problems} with problems; longest delivery ${s.max_delivery_delay_s === null ? "–" : `${fixed(s.max_delivery_delay_s, 1)} s`}`);
  }

  async function refresh() {
    try {
      answer = { ...(await everyDevice()), readAt: Date.now() / 1000 };
      failed = false;
      render();
    } catch (error) {
      failed = true;
      sayFailure(message, error);
      render();
    }
  }

  filter.addEventListener("input", render);
  return { refresh };
}
