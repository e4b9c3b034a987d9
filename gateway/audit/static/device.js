// A device's page: its state and problems, then its alert timeline, newest first, each with the
// evidence image its signed alert names (served only after it is hashed again against the alert),
// its box drawn over it, shown larger on a click.
// A time range (From, To: this browser's time) lists the alerts whose alert time lies in it instead,
// read by the audit service (since/until), a page at a time from the earliest.
import { ApiError, asReadLine, chosenIn, clock, counted, facts, fixed, h, keepInAddress, showInOrder } from "./core.js";
import { boxOverlay, evidenceViewer, withoutImage } from "./evidence_viewer.js";
import { cut, devicePath, exact, jsonText, keyCount, own, say, sayFailure, turns } from "./exact.js";

const PAGE = 50n;

// viewer: where the image is shown larger, the box over it (a thumbnail is 200 pixels wide).
function thumbnail(deviceId, entry, viewer) {
  const alert = entry.alert || {};
  const frame = h("div", { class: "thumb" });
  if (!alert.evidence) {
    // Only start and instant alerts carry an image: a v1 alert had no field for it, and a v2 one
    // without it was committed so by the device.
    const taken = alert.kind === "start" || alert.kind === "instant";
    frame.append(taken
      ? withoutImage(alert, "Evidence was off on the device, or it could not hold or encode the frame in time (its edge_gateway_evidence_missing_total counts these).")
      : h("span", { class: "placeholder", text: `${alert.kind || "?"}: no image` }));
    return frame;
  }
  if (!entry.evidence_stored) {
    frame.append(h("span", { class: "placeholder", text: "evidence not arrived yet" }));
    return frame;
  }
  const source = `${devicePath(deviceId)}/alerts/${entry.seq}/evidence.jpg`;
  const alt = `Evidence of alert ${entry.seq}: ${cut(alert.label)} on camera ${cut(alert.camera_id)}`;
  const larger = h("button", {
    type: "button",
    class: "larger",
    "data-evidence": String(entry.seq),
    "aria-label": `Show the evidence of alert #${entry.seq} larger`,
    onclick: () => viewer.open({
      source,
      alt,
      box: alert.box,
      title: [own(alert.rule), " (", own(alert.label), ")"],
      caption: [`${clock(alert.frame_ts)} · camera `, own(alert.camera_id), ` · #${entry.seq} `, own(alert.kind)],
    }, larger),
  });
  const image = h("img", { src: source, alt, loading: "lazy" });
  frame.append(image, boxOverlay(alert.box, image), larger);
  return frame;
}

function card(deviceId, entry, viewer) {
  const alert = entry.alert || {};
  return h("li", { class: "card event", "data-seq": String(entry.seq) },
    thumbnail(deviceId, entry, viewer),
    h("div", {},
      h("h2", {}, `#${entry.seq} ${alert.kind || "?"}: `, own(alert.rule), " (", own(alert.label), ")"),
      h("p", { class: "timeline" }, `${clock(alert.frame_ts)} · camera `, own(alert.camera_id), " · event ", own(alert.event_id)),
      h("p", { class: "timeline", text: `stored ${clock(entry.received_at)} · lag ${entry.lag_s === null ? "–" : `${fixed(entry.lag_s, 2)} s`}` }),
      h("details", {}, h("summary", { text: "Show the signed JSON" }), h("pre", { class: "raw", text: jsonText(alert) }))));
}

// The page's address: `#/device/ID`, and with a time range `#/device/ID/from=...&to=...` (the query
// escaped once more, as the router unescapes it once), so a range survives a reload and can be sent
// on. A device id holds no "/" (it is one MQTT topic level): the first one ends it.
function addressed(parameter) {
  const text = parameter === null ? "" : parameter;
  const cut = text.indexOf("/");
  const wanted = chosenIn(cut < 0 ? "" : text.slice(cut + 1));
  return { deviceId: parameter === null ? null : cut < 0 ? text : text.slice(0, cut), wanted };
}

export function mount(view, parameter) {
  const { deviceId, wanted } = addressed(parameter);
  const title = h("h1", {}, "Device ", own(deviceId));
  // What a failed refresh leaves shown is said to be as old as it is, under a line saying when it was
  // read. A summary and the alerts read by the same refresh share one line, over the summary: a line
  // over each, a few elements apart and milliseconds from each other, read as two different moments.
  const stateAsRead = asReadLine("the device's state now is unknown");
  const bothAsRead = asReadLine("the device's state now is unknown and alerts and evidence stored since are not shown");
  const listAsRead = asReadLine("alerts and evidence stored since are not shown");
  const summaryBody = h("div");
  const summary = h("div", {}, stateAsRead.element, bothAsRead.element, summaryBody);
  const message = h("p", { role: "status", class: "muted" });
  const list = h("ol", { class: "events" });
  const rest = h("button", { type: "button", hidden: true });
  const newer = h("button", { type: "button", text: "Newer alerts", hidden: true });
  const older = h("button", { type: "button", text: "Older alerts", hidden: true });
  const range = {
    from: h("input", { id: "alerts-from", type: "datetime-local", step: "1" }),
    to: h("input", { id: "alerts-to", type: "datetime-local", step: "1" }),
  };
  const field = (id, text, control) => h("div", {}, h("label", { for: id, text }), control);
  const rangeForm = h("form", { class: "filters range", onsubmit: (event) => event.preventDefault() },
    field("alerts-from", "Alerts from", range.from), field("alerts-to", "To", range.to));
  // Next past a page's last picture shows the next page of older alerts, as Older alerts would;
  // Previous before its first one the newer alerts, as the rest of a page cut short (or, in a time
  // range, its later alerts) or Newer alerts would.
  const failed = () => (message.className === "error" ? message.textContent : null);
  const viewer = evidenceViewer(list, {
    next: {
      what: "older alerts",
      can: () => !older.hidden,
      show: async () => {
        await older.onclick();
        return failed();
      },
    },
    previous: {
      what: "newer alerts",
      can: () => !rest.hidden || !newer.hidden,
      show: async () => {
        await (rest.hidden ? newer : rest).onclick();
        return failed();
      },
    },
  });
  view.append(h("p", {}, h("a", { href: "#/devices", text: "← All devices" })), title, summary, rangeForm, message, listAsRead.element, list, rest, newer, older, viewer.element);
  let upper = null; // the newest seq shown; null: follow the newest
  const uppers = []; // the pages Older alerts left (their `upper`), for Newer alerts to go back to
  let start = null; // where the page starts when a page cut short by its bytes is continued
  const starts = []; // the parts of this page shown before this one (their `start`), for Older alerts
  let rangeStart = 1n; // within a time range: the seq its page is read from
  const rangeStarts = []; // within a time range: where each earlier page started, for Earlier
  for (const [key, control] of Object.entries(range)) {
    control.value = wanted.get(key) || "";
    control.addEventListener("change", () => {
      rangeStart = 1n;
      rangeStarts.length = 0;
      keepInAddress(`#/device/${encodeURIComponent(deviceId)}`, range);
      refresh();
    });
  }
  const cards = new Map();
  const path = devicePath(deviceId);
  const turn = turns();
  // The last summary read and when: while refreshes fail it stays shown, said to be that old, with
  // no state in colour (a green "online" and "No problems." under the error read as the device's
  // state now).
  let lastRead = null;
  // When the alerts listed were read, and the summary (lastRead) read by the same refresh. A refresh
  // that fails (the device's read or its alerts') leaves them listed, signed and stored as they are,
  // but the range they were read as is no longer said and alerts or evidence stored since are not
  // among them: they stood under the error as the list now.
  let listRead = null;

  // current: whether the device is drawn as the latest refresh read it; an older refresh's summary
  // shows its states without their colours (nor its problems announced as an alert again each refresh).
  function draw(device, current) {
    const colour = (name) => (current ? name : "");
    summaryBody.replaceChildren(
      device.problems.length
        ? h("div", { class: current ? "banner bad" : "banner stale", role: current ? "alert" : null }, h("strong", { text: "Problems: " }), device.problems.map((problem, index) => [index ? "; " : "", own(problem)]))
        : h("p", { class: colour("ok"), text: "No problems." }),
      facts([
        ["State", device.state, { class: colour(device.state === "online" ? "ok" : "bad") }],
        ["State since (device clock)", device.state_ts || "–"],
        ["Signing keys", keyCount(device.keys), { class: colour(device.keys === 0 ? "bad" : "") }],
        ["Last seq", String(device.last_seq)],
        ["Stored", `${counted(device.alerts_stored, "alert")}, ${device.missing_alerts} missing`],
        ["Gaps", device.gaps.length ? device.gaps.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ") : "none"],
        ["Last alert", clock(device.last_alert_at)],
        ["Delivery delay", device.delivery_delay_s === null ? "–" : `${fixed(device.delivery_delay_s, 2)} s`],
        ["Clock (device − audit)", device.clock_offset_s === null ? "not measured yet (at its next connection)" : `${fixed(device.clock_offset_s, 2)} s`],
        ["Lag (arrival − alert time)", device.lag_s === null ? "–" : `${fixed(device.lag_s, 2)} s`],
        ["Evidence missing", String(device.evidence_missing)],
        ["Rejected", device.rejected ? [`${device.rejected} (last: `, own(device.last_rejection?.reason), ")"] : "0"],
      ]));
  }

  // After a failed refresh: which parts shown an older refresh read, and when. summaryOld: the
  // device's read failed, so the summary shown is lastRead's.
  function sayWhenRead(summaryOld) {
    const listOld = listRead !== null && list.childElementCount > 0;
    // One line over both claims the summary's time for alerts read a moment after it, never a
    // time they were not yet read at; alerts an earlier refresh read keep their own, older time.
    const together = summaryOld && listOld && listRead.summary === lastRead;
    stateAsRead.hide();
    bothAsRead.hide();
    listAsRead.hide();
    if (together) {
      bothAsRead.show(lastRead.readAt);
      return;
    }
    if (summaryOld) stateAsRead.show(lastRead.readAt);
    if (listOld) listAsRead.show(listRead.readAt);
  }

  // The cards shown are kept, not taken out and put back: that dropped the keyboard's focus (on a
  // card's "Show the signed JSON", say) to the document's body at every refresh. A card drawn again
  // once its evidence arrived keeps its signed JSON open if it was, and the focus if it had it.
  // Only the cards shown stay in the map: one page left open on a device whose alerts keep coming,
  // or paged through a long history, held every card it had drawn.
  function listCards(entries) {
    let focused = null;
    const shown = new Map();
    showInOrder(list, entries.map((entry) => {
      const key = `${entry.seq}:${entry.evidence_stored}`;
      const node = cards.get(key) || card(deviceId, entry, viewer);
      const before = cards.has(key) ? null : cards.get(`${entry.seq}:${!entry.evidence_stored}`);
      if (before) {
        const details = node.querySelector("details");
        details.open = before.querySelector("details").open;
        if (before.contains(document.activeElement)) focused = details.querySelector("summary");
      }
      shown.set(key, node);
      return node;
    }));
    cards.clear();
    for (const [key, node] of shown) cards.set(key, node);
    if (focused) focused.focus();
  }

  // The alerts whose time lies in the range chosen, a page from rangeStart, newest first in it.
  async function showRange(current) {
    const from = range.from.value ? new Date(range.from.value) : null;
    const to = range.to.value ? new Date(range.to.value) : null;
    const span = from && to
      ? `from ${from.toLocaleString()} to ${to.toLocaleString()}`
      : from ? `from ${from.toLocaleString()} on` : `before ${to.toLocaleString()}`;
    if (from && to && to <= from) {
      list.replaceChildren();
      listRead = null;
      rest.hidden = true;
      newer.hidden = true;
      older.hidden = true;
      say(message, "The range's end must be later than its start.");
      return;
    }
    const bounds = [from ? `since=${from.toISOString()}` : "", to ? `until=${to.toISOString()}` : ""].filter(Boolean).join("&");
    const page = await exact(`${path}/alerts?${bounds}&from_seq=${rangeStart}&limit=${PAGE}`);
    if (!current()) return;
    const entries = page.alerts.slice().reverse();
    const next = page.next_from_seq === null ? null : BigInt(page.next_from_seq);
    const shown = entries.length ? `${entries[entries.length - 1].seq} to ${entries[0].seq}` : "";
    say(message, !entries.length
      ? `No alerts stored ${span}.`
      : `Alerts ${shown} of those ${span}, newest first${next === null ? "" : "; later ones are on the next page"}.`);
    listCards(entries);
    listRead = { readAt: Date.now() / 1000, summary: lastRead };
    listAsRead.hide();
    rest.hidden = next === null;
    rest.textContent = "Later alerts in this range";
    rest.onclick = () => {
      rangeStarts.push(rangeStart);
      rangeStart = next;
      return refresh();
    };
    newer.hidden = true;
    older.hidden = !rangeStarts.length;
    older.textContent = "Earlier alerts in this range";
    older.onclick = () => {
      rangeStart = rangeStarts.pop();
      return refresh();
    };
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
    let device;
    try {
      device = await exact(path);
    } catch (error) {
      if (!current()) return;
      if (error instanceof ApiError && error.status === 404) {
        // A device removed (from the keys file and the store) while its page was shown: its
        // summary and alerts were kept under this line, as if it were still there.
        summaryBody.replaceChildren();
        list.replaceChildren();
        cards.clear();
        listRead = null;
        stateAsRead.hide();
        bothAsRead.hide();
        listAsRead.hide();
        rest.hidden = true;
        newer.hidden = true;
        older.hidden = true;
        upper = null;
        uppers.length = 0;
        start = null;
        starts.length = 0;
        lastRead = null;
        say(message, "No device ", own(deviceId), " in the audit log.");
        return;
      }
      // The device unread: its summary and alerts shown are as an older refresh read them.
      sayFailure(message, error);
      if (lastRead) draw(lastRead.device, false);
      sayWhenRead(lastRead !== null);
      return;
    }
    if (!current()) return;
    try {
      lastRead = { device, readAt: Date.now() / 1000 };
      draw(device, true);
      stateAsRead.hide();
      bothAsRead.hide();
      if (range.from.value || range.to.value) {
        await showRange(current);
        return;
      }
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
      // A second click before the page it asked for is drawn steps no further than the first.
      const here = () => upper === wantedUpper && start === wantedStart;
      rest.onclick = () => {
        if (here()) {
          starts.push(wantedStart);
          start = next;
        }
        return refresh();
      };
      listCards(entries);
      listRead = { readAt: Date.now() / 1000, summary: lastRead };
      listAsRead.hide();
      // The rest of a page cut short holds the alerts just newer than these: Newer alerts would
      // step over them to the page after.
      newer.hidden = !uppers.length || !rest.hidden;
      newer.onclick = () => {
        if (here() && uppers.length) {
          upper = uppers.pop();
          start = null;
          starts.length = 0;
        }
        return refresh();
      };
      // Each part of a page cut short has the part shown before it below it, then the page before.
      older.hidden = from <= 1n;
      older.textContent = "Older alerts";
      older.onclick = () => {
        if (here()) {
          if (from === first) {
            uppers.push(wantedUpper);
            upper = first - 1n;
            start = null;
            starts.length = 0;
          } else {
            start = starts.length ? starts.pop() : null;
          }
        }
        return refresh();
      };
    } catch (error) {
      if (!current()) return;
      // The device was read: the summary drawn is its state now, and only the alerts listed are old.
      sayFailure(message, error);
      sayWhenRead(false);
    }
  }
  return { refresh };
}
