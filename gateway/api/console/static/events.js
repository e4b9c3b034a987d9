// Events page: alerts grouped into events (start, updates, end share an event_id), newest first,
// filtered by camera, rule, label and time; each with its evidence thumbnail (the boxes drawn here
// from the signed alert), its delivery state and links to the raw signed alerts (event_card.js).
//
// The page holds one unbroken run of alerts, from the newest back to the oldest it has read: each
// refresh adds the newest on top (paging back to close the gap when more arrived since the last one
// than an answer holds), and Older reads further back below, so an event spanning pages is one
// card and the label filter applies to all of it. The run is of the camera, the rule and the time
// range chosen (the gateway answers one camera's, one rule's alerts, and those whose frame time lies
// in a range; every alert of an event is of its rule), or of every one: at a busy site a quiet
// camera's or a rare rule's events, or last week's, can lie far behind the newest alerts of all, past
// what the page holds, so choosing any of them starts its own run, and an answer read for the run
// before is thrown away. An event across the range's edge shows its alerts inside it. The run is
// bounded at MAX_ALERTS, twenty
// answers: a busy day of a few cameras, about 11 MB of parsed alerts in Chromium, grouped and
// filtered in some 20 to 60 ms; past it the oldest go first. Cards are built only for the events
// shown, their raw JSON only when opened, and a refresh that found nothing new draws nothing.
//
// While refreshes fail, the cards read last stay (the alerts are signed and stored), said to be as
// of when, with their delivery states in no colour: those, and whether an event is still open, may
// have changed since. A status that could not be read leaves every delivery state unknown, where an
// older one's acknowledgements shown beside alerts read now would mix two reads.
import { api, asReadLine, chosenIn, counted, errorText, h, keepInAddress } from "./core.js";
import { card, deliveryPill, deliveryText } from "./event_card.js";
import { evidenceViewer } from "./evidence_viewer.js";

const FETCH = 1000;
// A refresh of a run already held reads this many of the newest, and pages back only when all of
// them are new: each refresh read FETCH alerts, every two seconds while the page was open, some
// 800 kB of JSON encoded by the gateway (50 ms of its CPU) to find the few new ones, if any.
const NEWEST = 100;
const SHOWN = 100;
const MAX_ALERTS = 20 * FETCH;
// The delivery of a server run without the camera pipeline (its status a 404): it has no broker.
const NO_BROKER = { broker: null };

export function groupEvents(alerts) {
  const groups = new Map();
  for (const alert of alerts) {
    const group = groups.get(alert.event_id) || [];
    group.push(alert);
    groups.set(alert.event_id, group);
  }
  return [...groups.values()]
    .map((group) => group.sort((a, b) => a.seq - b.seq))
    .sort((a, b) => b[b.length - 1].seq - a[a.length - 1].seq);
}

// Every read of a run names its camera, its rule and its time range, if it has them.
function eventsPath(run, limit, before) {
  const older = before === undefined ? "" : `&before=${before}`;
  const chosen = [["camera", run.camera], ["rule", run.rule], ["since", run.since], ["until", run.until]]
    .filter(([, value]) => value)
    .map(([key, value]) => `&${key}=${encodeURIComponent(value)}`);
  return `/v1/events?limit=${limit}${older}${chosen.join("")}`;
}

// A datetime-local field's time, in this browser's zone, as the gateway takes one (RFC 3339, UTC),
// `after` milliseconds later; "" for none.
function instant(value, after = 0) {
  const at = value ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? "" : new Date(at + after).toISOString();
}

function newestFirst(alerts) {
  return [...alerts].sort((a, b) => b.seq - a.seq);
}

function oldestSeq(alerts) {
  return alerts.reduce((low, alert) => Math.min(low, alert.seq), Infinity);
}

// Groups come newest first, by the seq of their newest alert.
function newestSeq(group) {
  return group[group.length - 1].seq;
}

export function mount(view, parameter) {
  const fields = {
    camera: h("select", { id: "filter-camera" }, h("option", { value: "", text: "all cameras" })),
    rule: h("select", { id: "filter-rule" }, h("option", { value: "", text: "all rules" })),
    label: h("select", { id: "filter-label" }, h("option", { value: "", text: "all labels" })),
    from: h("input", { id: "filter-from", type: "datetime-local" }),
    to: h("input", { id: "filter-to", type: "datetime-local" }),
  };
  const filter = (id, text, control) => h("div", {}, h("label", { for: id, text }), control);
  const message = h("p", { role: "status", class: "muted" });
  const asRead = asReadLine("the alerts' delivery states and which events are still open now are unknown");
  const deliveryNote = h("p", { class: "error", hidden: true });
  const list = h("ol", { class: "events", reversed: true });
  const olderButton = h("button", { id: "older", type: "button", text: "Older events", disabled: true });
  const olderError = h("p", { class: "error", role: "alert", hidden: true });
  const viewer = evidenceViewer(list, { next: { what: "older events", can: () => !olderButton.disabled && !loading, show: older } });
  view.append(
    h("h1", { text: "Events" }),
    h("form", { class: "filters", onsubmit: (event) => event.preventDefault() },
      filter("filter-camera", "Camera", fields.camera),
      filter("filter-rule", "Rule", fields.rule),
      filter("filter-label", "Label", fields.label),
      filter("filter-from", "From", fields.from),
      filter("filter-to", "To", fields.to)),
    message,
    asRead.element,
    deliveryNote,
    list,
    h("p", {}, olderButton),
    olderError,
    viewer.element,
  );
  const wanted = chosenIn(parameter);
  for (const [key, control] of Object.entries(fields)) {
    const value = wanted.get(key);
    if (!value) continue;
    if (control.tagName === "SELECT" && ![...control.options].some((option) => option.value === value)) {
      control.append(h("option", { value, text: value }));
    }
    control.value = value;
  }
  const cards = new Map();
  // What the gateway is asked for: To is the last minute shown, where the gateway's `until` is the
  // first left out.
  const chosenRun = () => ({
    camera: fields.camera.value,
    rule: fields.rule.value,
    since: instant(fields.from.value),
    until: instant(fields.to.value, 1),
  });
  // Replaced when the camera, rule or time filter changes: a read whose run is no longer this one is
  // thrown away.
  let run = chosenRun();
  let alerts = []; // newest first, no seq missing between the first and the last
  let loaded = false; // the first refresh has answered
  let exhausted = false; // nothing is older than the last alert held
  let floor = null; // the newest seq of the oldest event Older showed; null: the newest SHOWN
  let loading = false;
  let refreshError = "";
  let readAt = null; // when the last refresh that succeeded read the alerts
  let delivery = null; // null: the status could not be read
  let deliveryError = ""; // why not

  function options(select, values) {
    const chosen = select.value;
    const known = new Set([...select.options].map((option) => option.value));
    for (const value of [...values].sort()) {
      if (!known.has(value)) select.append(h("option", { value, text: value }));
    }
    select.value = chosen;
  }

  // The run holds the camera, rule and time range chosen only (the gateway filters them).
  function matching() {
    return groupEvents(alerts).filter((group) => !fields.label.value || group[0].label === fields.label.value);
  }

  // Why the time range chosen can hold no alert; "" where it can.
  function rangeProblem(chosen) {
    return chosen.since && chosen.until && Date.parse(chosen.until) <= Date.parse(chosen.since)
      ? "From must be before To." : "";
  }

  function shownCount(groups) {
    if (floor === null) return Math.min(SHOWN, groups.length);
    const below = groups.findIndex((group) => newestSeq(group) < floor);
    return Math.max(Math.min(SHOWN, groups.length), below === -1 ? groups.length : below);
  }

  const canLoad = () => loaded && !exhausted && alerts.length > 0 && alerts.length < MAX_ALERTS;

  function olderText(groups, shown) {
    // Kept enabled while loading (a second click waits on the first): a disabled button drops the
    // keyboard focus to the top of the page.
    if (loading) return ["Loading older events…", false];
    if (groups.length > shown || canLoad()) return ["Older events", false];
    if (!loaded) return ["Older events", true];
    const ranged = Boolean(run.since || run.until);
    if (exhausted && ranged) return ["No older events in the time range: all its alerts are loaded", true];
    if (exhausted) return ["No older events: all alerts on the gateway are loaded", true];
    return [`No older events here: this page holds the newest ${MAX_ALERTS} alerts at most; ${ranged ? "narrow" : "choose"} From and To to read further back`, true];
  }

  function render() {
    const groups = matching();
    const shown = shownCount(groups);
    // Older alerts may lie behind the run held: the count is of the run, and says so.
    const scope = exhausted ? "" : ` in the newest ${counted(alerts.length, "alert")}`;
    message.textContent = refreshError || (!loaded ? "Loading events…" : groups.length
      ? `${counted(groups.length, "event")}${scope}${groups.length > shown ? `, newest ${shown} shown` : ""}`
      : `No events match${scope}.`);
    message.className = refreshError ? "error" : "muted";
    const current = !refreshError;
    if (current || readAt === null) asRead.hide();
    else asRead.show(readAt);
    deliveryNote.textContent = current && loaded && deliveryError
      ? `The alerts' delivery states could not be read (${deliveryError}): they are unknown.` : "";
    deliveryNote.hidden = !deliveryNote.textContent;
    const [text, disabled] = olderText(groups, shown);
    olderButton.textContent = text;
    olderButton.disabled = disabled;
    const kept = new Map();
    const nodes = groups.slice(0, shown).map((group) => {
      // A card is rebuilt only when its event changed (an alert added at either end), so thumbnails
      // are not fetched again: its delivery state is replaced on its own, also when a refresh fails
      // (a thumbnail fetched again then would fail too).
      const key = `${group[0].seq}:${newestSeq(group)}:${group.length}`;
      const shownDelivery = deliveryText(group, delivery, current).join(":");
      const known = cards.get(group[0].event_id);
      const node = known && known.key === key ? known.node : card(group, delivery, current, viewer);
      if (node === known?.node && known.shownDelivery !== shownDelivery) {
        node.querySelector(".delivery").replaceChildren(deliveryPill(group, delivery, current));
      }
      kept.set(group[0].event_id, { key, shownDelivery, node });
      return node;
    });
    cards.clear();
    for (const [id, entry] of kept) cards.set(id, entry);
    place(nodes);
  }

  // Moves only the cards out of place: a new event on top of thousands shown touches one node.
  function place(nodes) {
    nodes.forEach((node, index) => {
      const at = list.children[index];
      if (at !== node) list.insertBefore(node, at || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();
  }

  async function addNewest(mine, answer, limit) {
    const top = alerts.length ? alerts[0].seq : null;
    let fresh = newestFirst(answer).filter((alert) => top === null || alert.seq > top);
    let joined = top === null || answer.length < limit || oldestSeq(answer) <= top;
    while (!joined && fresh.length < MAX_ALERTS) {
      const page = (await api(eventsPath(mine, FETCH, fresh[fresh.length - 1].seq))).events;
      if (mine !== run) return;
      fresh = fresh.concat(newestFirst(page).filter((alert) => alert.seq > top));
      joined = page.length < FETCH || oldestSeq(page) <= top;
    }
    if (top === null) {
      alerts = fresh;
      exhausted = answer.length < FETCH;
    } else if (joined) {
      alerts = fresh.concat(alerts);
    } else {
      // More arrived than the page holds: the run starts again from the newest.
      alerts = fresh;
      exhausted = false;
      floor = null;
    }
    if (alerts.length > MAX_ALERTS) {
      alerts = alerts.slice(0, MAX_ALERTS);
      exhausted = false;
    }
    loaded = true;
  }

  let drawn = ""; // what the last refresh drew from: the same again is not drawn again
  let refreshing = null; // the refresh in flight and its run

  // One refresh at a time per run: the shell's timer and a camera change may both ask for one, and
  // two at once would both add the same newest alerts on top.
  async function refresh() {
    if (refreshing && refreshing.run === run) return refreshing.done;
    const entry = { run, done: readNewest(run) };
    refreshing = entry;
    try {
      await entry.done;
    } finally {
      if (refreshing === entry) refreshing = null;
    }
  }

  async function readNewest(mine) {
    const limit = alerts.length ? NEWEST : FETCH;
    const problem = rangeProblem(mine);
    if (problem) {
      refreshError = problem;
      render();
      return;
    }
    try {
      const [answer, [readDelivery, statusError], cameras] = await Promise.all([
        api(eventsPath(mine, limit)),
        api("/v1/status").then(
          (status) => [status.delivery, ""],
          (error) => (error.status === 404 ? [NO_BROKER, ""] : [null, errorText(error)]),
        ),
        api("/v1/cameras"),
      ]);
      if (mine !== run) return;
      await addNewest(mine, answer.events, limit);
      if (mine !== run) return;
      readAt = Date.now() / 1000;
      delivery = readDelivery;
      deliveryError = statusError;
      const cameraIds = [...cameras.cameras.map((item) => item.id), ...alerts.map((alert) => alert.camera_id)];
      options(fields.camera, new Set(cameraIds));
      options(fields.rule, new Set(alerts.map((alert) => alert.rule)));
      options(fields.label, new Set(alerts.map((alert) => alert.label)));
      refreshError = ""; // an error shown by an earlier refresh is over
    } catch (error) {
      if (mine !== run) return;
      refreshError = errorText(error);
    }
    const state = JSON.stringify([
      alerts.length, alerts[0]?.seq, alerts.at(-1)?.seq, exhausted, delivery, deliveryError, refreshError,
    ]);
    if (state !== drawn) render();
    drawn = state;
  }

  async function loadPage(mine) {
    const bottom = alerts[alerts.length - 1].seq;
    const limit = Math.min(FETCH, MAX_ALERTS - alerts.length);
    const page = (await api(eventsPath(mine, limit, bottom))).events;
    // Another camera was chosen, or a refresh let the oldest go or started the run again meanwhile:
    // this page no longer joins the run.
    if (mine !== run || !alerts.length || alerts[alerts.length - 1].seq !== bottom) return;
    alerts = alerts.concat(newestFirst(page).filter((alert) => alert.seq < bottom));
    exhausted = page.length < limit;
    options(fields.rule, new Set(page.map((alert) => alert.rule)));
    options(fields.label, new Set(page.map((alert) => alert.label)));
    options(fields.camera, new Set(page.map((alert) => alert.camera_id)));
  }

  // The next SHOWN events that match, read from further back while fewer than that are held; the
  // failure's text, or null.
  async function older() {
    if (loading) return null;
    const mine = run;
    loading = true;
    render();
    let groups = matching();
    const target = shownCount(groups) + SHOWN;
    let failure = null;
    try {
      while (mine === run && groups.length < target && canLoad()) {
        await loadPage(mine);
        groups = matching();
      }
    } catch (error) {
      failure = error;
    }
    // Another camera was chosen meanwhile: the new run has its own state, this read is not of it.
    if (mine !== run) return null;
    olderError.textContent = failure ? `Older events not loaded: ${errorText(failure)}` : "";
    olderError.hidden = !failure;
    groups = matching();
    const last = groups[Math.min(target, groups.length) - 1];
    if (last) floor = newestSeq(last);
    loading = false;
    render();
    return failure ? olderError.textContent : null;
  }

  // A new run for the camera and rule chosen, read at once; what the run before held or read is
  // dropped.
  function startRun() {
    run = chosenRun();
    alerts = [];
    loaded = false;
    exhausted = false;
    floor = null;
    loading = false;
    refreshError = "";
    readAt = null;
    drawn = "";
    olderError.hidden = true;
    olderError.textContent = "";
    render();
    refresh();
  }

  olderButton.addEventListener("click", older);
  for (const key of ["camera", "rule", "from", "to"]) fields[key].addEventListener("change", startRun);
  fields.label.addEventListener("change", render);
  for (const control of Object.values(fields)) control.addEventListener("change", () => keepInAddress("#/events", fields));
  return { refresh };
}
