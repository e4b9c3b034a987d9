// Events page: alerts grouped into events (start, updates, end share an event_id), newest first,
// filtered by camera, rule, label and time; each with its evidence thumbnail (the boxes drawn here
// from the signed alert), its delivery state and links to the raw signed alerts.
import { api, clock, errorText, fixed, h, s } from "./core.js";

const FETCH = 1000;
const SHOWN = 100;

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

function deliveryText(group, delivery) {
  const last = group[group.length - 1].seq;
  if (!delivery || delivery.broker === null) return ["committed (outbox only)", "muted"];
  const acked = delivery.last_acked_seq || 0;
  if (last <= acked) return ["acknowledged by the broker", "ok"];
  const waiting = group.filter((alert) => alert.seq > acked).length;
  return [`committed, ${waiting} of ${group.length} alerts awaiting the broker`, "warn"];
}

function thumbnail(first) {
  const frame = h("div", { class: "thumb" });
  const evidence = first.kind === "start" || first.kind === "instant";
  const placeholder = (text) => h("span", { class: "placeholder", text });
  if (!evidence) {
    frame.append(placeholder("started before the alerts shown"));
    return frame;
  }
  const image = h("img", {
    src: `/v1/events/${first.seq}/evidence.jpg`,
    alt: `Evidence of alert ${first.seq}: ${first.label} on camera ${first.camera_id}`,
    loading: "lazy",
  });
  image.addEventListener("error", () => {
    image.remove();
    overlay.remove();
    frame.append(placeholder("no evidence image"));
  });
  const overlay = s("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none", "aria-hidden": "true" });
  if (Array.isArray(first.box)) {
    const [x1, y1, x2, y2] = first.box;
    overlay.append(s("rect", { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1) }));
  }
  frame.append(image, overlay);
  return frame;
}

function card(group, delivery) {
  const first = group[0];
  const last = group[group.length - 1];
  const best = group.reduce((top, alert) => Math.max(top, alert.score), 0);
  const [deliveryLabel, deliveryClass] = deliveryText(group, delivery);
  const kinds = group.map((alert) => alert.kind);
  const ended = kinds.includes("end") || kinds.includes("instant");
  const seconds = (Date.parse(last.frame_ts) - Date.parse(first.frame_ts)) / 1000;
  const extra = [
    first.track_id !== undefined && first.track_id !== null ? `track #${first.track_id}` : null,
    first.direction ? `direction ${first.direction}` : null,
    last.count !== undefined && last.count !== null ? `${last.count} present` : null,
    first.zone ? `zone ${first.zone}` : null,
  ].filter(Boolean);
  return h("li", { class: "card event", "data-event": first.event_id },
    thumbnail(first),
    h("div", {},
      h("h2", { text: `${first.rule}: ${first.label}` }),
      h("p", { class: "timeline" },
        `${clock(first.frame_ts)} · camera ${first.camera_id} · `,
        kinds.includes("instant") ? "instant" : ended ? `lasted ${fixed(seconds, 1)} s` : "still open",
        ` · best score ${fixed(best, 2)}`,
        extra.length ? ` · ${extra.join(" · ")}` : ""),
      h("p", { class: "timeline", text: `alerts: ${group.map((alert) => `${alert.kind} #${alert.seq}`).join(", ")}` }),
      h("p", {}, h("span", { class: `pill ${deliveryClass}`, text: deliveryLabel })),
      h("p", {}, "Raw signed alerts: ", group.map((alert, index) => [
        index ? ", " : "",
        h("a", { href: `/v1/events/${alert.seq}`, target: "_blank", rel: "noopener", text: `#${alert.seq}` }),
      ])),
      h("details", {}, h("summary", { text: "Show the signed JSON" }),
        h("pre", { class: "raw", text: JSON.stringify(group, null, 2) })),
    ),
  );
}

export function mount(view) {
  const fields = {
    camera: h("select", { id: "filter-camera" }, h("option", { value: "", text: "all cameras" })),
    rule: h("select", { id: "filter-rule" }, h("option", { value: "", text: "all rules" })),
    label: h("select", { id: "filter-label" }, h("option", { value: "", text: "all labels" })),
    from: h("input", { id: "filter-from", type: "datetime-local" }),
    to: h("input", { id: "filter-to", type: "datetime-local" }),
  };
  const filter = (id, text, control) => h("div", {}, h("label", { for: id, text }), control);
  const message = h("p", { role: "status", class: "muted" });
  const list = h("ol", { class: "events", reversed: true });
  view.append(
    h("h1", { text: "Events" }),
    h("form", { class: "filters", onsubmit: (event) => event.preventDefault() },
      filter("filter-camera", "Camera", fields.camera),
      filter("filter-rule", "Rule", fields.rule),
      filter("filter-label", "Label", fields.label),
      filter("filter-from", "From", fields.from),
      filter("filter-to", "To", fields.to)),
    message,
    list,
  );
  const cards = new Map();
  let alerts = [];
  let delivery = null;

  function options(select, values) {
    const chosen = select.value;
    const known = new Set([...select.options].map((option) => option.value));
    for (const value of [...values].sort()) {
      if (!known.has(value)) select.append(h("option", { value, text: value }));
    }
    select.value = chosen;
  }

  function render() {
    const from = fields.from.value ? Date.parse(fields.from.value) : -Infinity;
    const to = fields.to.value ? Date.parse(fields.to.value) : Infinity;
    const groups = groupEvents(alerts).filter((group) => {
      const first = group[0];
      const at = Date.parse(first.frame_ts);
      return (!fields.rule.value || first.rule === fields.rule.value)
        && (!fields.label.value || first.label === fields.label.value)
        && at >= from && at <= to;
    });
    // A full answer may have older alerts behind it: the count is of the window, and says so.
    const scope = alerts.length >= FETCH ? ` in the newest ${FETCH} alerts` : "";
    message.textContent = groups.length
      ? `${groups.length} events${scope}${groups.length > SHOWN ? `, newest ${SHOWN} shown` : ""}`
      : `No events match${scope}.`;
    const nodes = groups.slice(0, SHOWN).map((group) => {
      // A card is rebuilt only when its event changed, so thumbnails are not fetched again.
      const key = `${group[group.length - 1].seq}:${deliveryText(group, delivery)[0]}`;
      const known = cards.get(group[0].event_id);
      if (known && known.key === key) return known.node;
      const node = card(group, delivery);
      cards.set(group[0].event_id, { key, node });
      return node;
    });
    list.replaceChildren(...nodes);
  }

  async function refresh() {
    try {
      const camera = fields.camera.value;
      const [answer, status, cameras] = await Promise.all([
        api(`/v1/events?limit=${FETCH}${camera ? `&camera=${encodeURIComponent(camera)}` : ""}`),
        api("/v1/status").catch(() => null),
        api("/v1/cameras"),
      ]);
      alerts = answer.events;
      delivery = status && status.delivery;
      options(fields.camera, cameras.cameras.map((item) => item.id));
      options(fields.rule, new Set(alerts.map((alert) => alert.rule)));
      options(fields.label, new Set(alerts.map((alert) => alert.label)));
      message.className = "muted"; // an error shown by an earlier refresh is over
      render();
    } catch (error) {
      message.textContent = errorText(error);
      message.className = "error";
    }
  }

  fields.camera.addEventListener("change", refresh);
  for (const key of ["rule", "label", "from", "to"]) fields[key].addEventListener("change", render);
  return { refresh };
}
