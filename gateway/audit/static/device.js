// A device's page: its state and problems, then its alert timeline, newest first, each with the
// evidence image its signed alert names (served only after it is hashed again against the alert).
import { ApiError, asReadText, clock, facts, fixed, h } from "./core.js";
import { devicePath, exact, jsonText, keyCount, own, say, sayFailure, turns } from "./exact.js";

const PAGE = 50n;

function thumbnail(deviceId, entry) {
  const alert = entry.alert || {};
  const frame = h("div", { class: "thumb" });
  if (!alert.evidence) {
    frame.append(h("span", { class: "placeholder", text: alert.kind === "start" || alert.kind === "instant" ? "no evidence (alert v1)" : `${alert.kind || "?"}: no image` }));
    return frame;
  }
  if (!entry.evidence_stored) {
    frame.append(h("span", { class: "placeholder", text: "evidence not arrived yet" }));
    return frame;
  }
  frame.append(h("img", {
    src: `${devicePath(deviceId)}/alerts/${entry.seq}/evidence.jpg`,
    alt: `Evidence of alert ${entry.seq}: ${alert.label} on camera ${alert.camera_id}`,
    loading: "lazy",
  }));
  return frame;
}

function card(deviceId, entry) {
  const alert = entry.alert || {};
  return h("li", { class: "card event", "data-seq": String(entry.seq) },
    thumbnail(deviceId, entry),
    h("div", {},
      h("h2", {}, `#${entry.seq} ${alert.kind || "?"}: `, own(alert.rule), " (", own(alert.label), ")"),
      h("p", { class: "timeline" }, `${clock(alert.frame_ts)} · camera `, own(alert.camera_id), " · event ", own(alert.event_id)),
      h("p", { class: "timeline", text: `stored ${clock(entry.received_at)} · lag ${entry.lag_s === null ? "–" : `${fixed(entry.lag_s, 2)} s`}` }),
      h("details", {}, h("summary", { text: "Show the signed JSON" }), h("pre", { class: "raw", text: jsonText(alert) }))));
}

export function mount(view, deviceId) {
  const title = h("h1", {}, "Device ", own(deviceId));
  const summary = h("div");
  const message = h("p", { role: "status", class: "muted" });
  const listAsRead = h("p", { class: "muted", hidden: true });
  const list = h("ol", { class: "events" });
  const rest = h("button", { type: "button", hidden: true });
  const older = h("button", { type: "button", text: "Older alerts", hidden: true });
  view.append(h("p", {}, h("a", { href: "#/devices", text: "← All devices" })), title, summary, message, listAsRead, list, rest, older);
  let upper = null; // the newest seq shown; null: follow the newest
  let start = null; // where the page starts when a page cut short by its bytes is continued
  const cards = new Map();
  const path = devicePath(deviceId);
  const turn = turns();
  // The last summary read and when: while refreshes fail it stays shown, said to be that old, with
  // no state in colour (a green "online" and "No problems." under the error read as the device's
  // state now).
  let lastRead = null;
  // When the alerts listed were read. A refresh that fails (the device's read or its alerts') leaves
  // them listed, signed and stored as they are, but the range they were read as is no longer said
  // and alerts or evidence stored since are not among them: they stood under the error as the list now.
  let listReadAt = null;

  // readAt: null for a summary the latest refresh read; else when an older one was, and its states
  // are shown without their colours (nor its problems announced as an alert again each refresh).
  function draw(device, readAt) {
    const current = readAt === null;
    const colour = (name) => (current ? name : "");
    summary.replaceChildren(
      ...(current ? [] : [h("p", { class: "muted", text: asReadText(readAt, "the device's state now is unknown") })]),
      device.problems.length
        ? h("div", { class: current ? "banner bad" : "banner stale", role: current ? "alert" : null }, h("strong", { text: "Problems: " }), device.problems.map((problem, index) => [index ? "; " : "", own(problem)]))
        : h("p", { class: colour("ok"), text: "No problems." }),
      facts([
        ["State", device.state, { class: colour(device.state === "online" ? "ok" : "bad") }],
        ["State since (device clock)", device.state_ts || "–"],
        ["Signing keys", keyCount(device.keys), { class: colour(device.keys === 0 ? "bad" : "") }],
        ["Last seq", String(device.last_seq)],
        ["Stored", `${device.alerts_stored} alerts, ${device.missing_alerts} missing`],
        ["Gaps", device.gaps.length ? device.gaps.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ") : "none"],
        ["Last alert", clock(device.last_alert_at)],
        ["Delivery delay", device.delivery_delay_s === null ? "–" : `${fixed(device.delivery_delay_s, 2)} s`],
        ["Clock (device − audit)", device.clock_offset_s === null ? "not measured yet (at its next connection)" : `${fixed(device.clock_offset_s, 2)} s`],
        ["Lag (arrival − alert time)", device.lag_s === null ? "–" : `${fixed(device.lag_s, 2)} s`],
        ["Evidence missing", String(device.evidence_missing)],
        ["Rejected", device.rejected ? [`${device.rejected} (last: `, own(device.last_rejection?.reason), ")"] : "0"],
      ]));
  }

  async function refresh() {
    const current = turn();
    // Where this refresh was asked to start: a click meanwhile asks a refresh of its own.
    const wantedUpper = upper;
    const wantedStart = start;
    if (path === null) {
      say(message, "No URL can name the device ", own(deviceId), " (\".\" and \"..\" are path steps): rename it on the device.");
      return;
    }
    // Whether this refresh read the device: a failure after that (of its alerts' read) leaves the
    // summary it drew as the device now. It was drawn again as old, "state now unknown", in no colour.
    let readNow = false;
    try {
      let device;
      try {
        device = await exact(path);
      } catch (error) {
        if (!current()) return;
        if (!(error instanceof ApiError) || error.status !== 404) throw error;
        // A device removed (from the keys file and the store) while its page was shown: its
        // summary and alerts were kept under this line, as if it were still there.
        summary.replaceChildren();
        list.replaceChildren();
        cards.clear();
        listReadAt = null;
        listAsRead.hidden = true;
        rest.hidden = true;
        older.hidden = true;
        upper = null;
        start = null;
        lastRead = null;
        say(message, "No device ", own(deviceId), " in the audit log.");
        return;
      }
      if (!current()) return;
      lastRead = { device, readAt: Date.now() / 1000 };
      draw(device, null);
      readNow = true;
      const top = wantedUpper === null ? BigInt(device.last_seq) : wantedUpper;
      const first = top - PAGE + 1n > 1n ? top - PAGE + 1n : 1n;
      const from = wantedStart !== null && wantedStart > first && wantedStart <= top ? wantedStart : first;
      const page = await exact(`${path}/alerts?from_seq=${from}&limit=${top >= from ? top - from + 1n : 1n}`);
      if (!current()) return;
      const entries = page.alerts.filter((entry) => entry.seq <= top).reverse();
      // A page holds at most so many bytes of alerts: one cut short holds only the start of the range.
      const next = page.next_from_seq === null ? null : BigInt(page.next_from_seq);
      const last = next !== null && next <= top ? next - 1n : top;
      say(message, !entries.length
        ? "No alerts stored."
        : last < top
          ? `Alerts ${from} to ${last} of ${from} to ${top}, newest first: these alerts are large, so the page ends there; alerts from ${next} are on the next page.`
          : `Alerts ${from} to ${top}, newest first.`);
      rest.hidden = last >= top;
      rest.textContent = `Alerts from ${next} to ${top}`;
      rest.onclick = () => {
        start = next;
        refresh();
      };
      list.replaceChildren(...entries.map((entry) => {
        const key = `${entry.seq}:${entry.evidence_stored}`;
        const known = cards.get(key);
        if (known) return known;
        const node = card(deviceId, entry);
        cards.set(key, node);
        return node;
      }));
      listReadAt = Date.now() / 1000;
      listAsRead.hidden = true;
      older.hidden = first <= 1n;
      older.onclick = () => {
        upper = first - 1n;
        start = null;
        refresh();
      };
    } catch (error) {
      if (!current()) return;
      sayFailure(message, error);
      if (lastRead && !readNow) draw(lastRead.device, lastRead.readAt);
      if (listReadAt !== null && list.childElementCount) {
        listAsRead.textContent = asReadText(listReadAt, "alerts and evidence stored since are not shown");
        listAsRead.hidden = false;
      }
    }
  }
  return { refresh };
}
