// One event's card on the events page: its evidence thumbnail with the box drawn from the signed
// alert, its timeline, its delivery state and links to the raw signed alerts.
import { api, ApiError, clock, counted, errorText, fixed, h } from "./core.js";
import { boxOverlay, withoutImage } from "./evidence_viewer.js";

// delivery: the gateway's delivery as its status read it, null when the status could not be read.
// current: whether that read is the latest refresh's; an older one's state shows in no colour, as it
// may have changed since.
export function deliveryText(group, delivery, current) {
  const [text, style] = deliveryState(group, delivery);
  return [text, current ? style : ""];
}

function deliveryState(group, delivery) {
  // Said "outbox only" when the status could not be read: a false statement of a gateway whose
  // broker may well have acknowledged the alerts.
  if (!delivery) return ["committed; delivery unknown", ""];
  if (delivery.broker === null) return ["committed (outbox only)", "muted"];
  const last = group[group.length - 1].seq;
  const acked = delivery.last_acked_seq || 0;
  if (last <= acked) return ["acknowledged by the broker", "ok"];
  const waiting = group.filter((alert) => alert.seq > acked).length;
  return [`committed, ${waiting} of ${counted(group.length, "alert")} awaiting the broker`, "warn"];
}

export function deliveryPill(group, delivery, current) {
  const [text, style] = deliveryText(group, delivery, current);
  return h("span", { class: `pill ${style}`.trim(), text });
}

// An <img> that fails says only that it failed: the gateway is asked why. A missing image shows the
// gateway's reason (pruned after delivery, never captured); a load that failed for the moment (the
// gateway restarting or busy) says so and is tried again, where every failure was shown as "no
// evidence image" for good.
const RETRY_MS = 5000;
const RETRIES = 12;

// viewer: where the image is shown larger, the box over it (a thumbnail is 200 pixels wide).
function thumbnail(first, viewer) {
  const frame = h("div", { class: "thumb" });
  const evidence = first.kind === "start" || first.kind === "instant";
  const placeholder = (text) => h("span", { class: "placeholder", text });
  if (!evidence) {
    frame.append(placeholder("started before the alerts shown"));
    return frame;
  }
  // An alert committed without an image says so in its own fields, and the gateway's reason could
  // only repeat them: nothing is asked for. Each such card asked for its image and then the reason,
  // two requests at once per card, 200 for a page of them, past the gateway's per-client burst, so
  // the page's own reads were refused (429) on a gateway with evidence off.
  if (first.evidence == null) {
    frame.append(withoutImage(first, "Evidence was off (outbox.evidence.enabled), or the frame could not be held or encoded in time (edge_gateway_evidence_missing_total counts these)."));
    return frame;
  }
  const source = `/v1/events/${first.seq}/evidence.jpg`;
  const image = h("img", {
    src: source,
    alt: `Evidence of alert ${first.seq}: ${first.label} on camera ${first.camera_id}`,
    loading: "lazy",
  });
  const note = h("span", { class: "placeholder reason", role: "status", hidden: true });
  let tries = 0;
  const missing = (text) => {
    frame.classList.add("missing");
    note.textContent = text;
    note.hidden = false;
  };
  image.addEventListener("load", () => {
    frame.classList.remove("missing");
    note.hidden = true;
  });
  image.addEventListener("error", async () => {
    let failure = null;
    try {
      await api(source); // it answers now: shown by the next try
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        missing(`No evidence image: ${error.message}`);
        return;
      }
      failure = error;
    }
    tries += 1;
    if (tries > RETRIES) {
      missing(`Evidence image not loaded: ${failure ? errorText(failure) : "the browser could not show it"}`);
      return;
    }
    if (failure) missing(`Evidence image not loaded yet: ${errorText(failure)}. Trying again…`);
    setTimeout(() => {
      if (frame.isConnected) image.src = source;
    }, failure ? RETRY_MS : 0);
  });
  const larger = h("button", {
    type: "button",
    class: "larger",
    "data-evidence": first.seq,
    "aria-label": `Show the evidence of ${first.kind} alert #${first.seq} larger`,
    onclick: () => viewer.open({
      source,
      alt: image.alt,
      box: first.box,
      title: `${first.rule}: ${first.label}`,
      caption: `${clock(first.frame_ts)} · camera ${first.camera_id} · score ${fixed(first.score, 2)} · ${first.kind} alert #${first.seq}`,
    }, larger),
  });
  frame.append(image, boxOverlay(first.box, image), larger, note);
  return frame;
}

export function card(group, delivery, current, viewer) {
  const first = group[0];
  const last = group[group.length - 1];
  const best = group.reduce((top, alert) => Math.max(top, alert.score), 0);
  const kinds = group.map((alert) => alert.kind);
  const ended = kinds.includes("end") || kinds.includes("instant");
  const started = first.kind === "start" || first.kind === "instant"; // else its start is not held
  const seconds = (Date.parse(last.frame_ts) - Date.parse(first.frame_ts)) / 1000;
  const lasted = kinds.includes("instant") ? "instant"
    : !ended ? "still open"
      : started ? `lasted ${fixed(seconds, 1)} s` : "ended";
  const extra = [
    first.track_id !== undefined && first.track_id !== null ? `track #${first.track_id}` : null,
    first.direction ? `direction ${first.direction}` : null,
    last.count !== undefined && last.count !== null ? `${last.count} present` : null,
    first.zone ? `zone ${first.zone}` : null,
  ].filter(Boolean);
  return h("li", { class: "card event", "data-event": first.event_id },
    thumbnail(first, viewer),
    h("div", {},
      h("h2", { text: `${first.rule}: ${first.label}` }),
      h("p", { class: "timeline" },
        `${clock(first.frame_ts)} · camera ${first.camera_id} · `,
        lasted,
        ` · best score ${fixed(best, 2)}`,
        extra.length ? ` · ${extra.join(" · ")}` : ""),
      h("p", { class: "timeline", text: `alerts: ${group.map((alert) => `${alert.kind} #${alert.seq}`).join(", ")}` }),
      h("p", { class: "delivery" }, deliveryPill(group, delivery, current)),
      // Each link's name says what it opens, read alone from a screen reader's list of links: "#5"
      // named neither the alert nor its kind, and every event had a "#5"-like link or two.
      h("p", {}, "Raw signed alerts: ", group.map((alert, index) => [
        index ? ", " : "",
        h("a", {
          href: `/v1/events/${alert.seq}`,
          target: "_blank",
          rel: "noopener",
          "aria-label": `Signed JSON of ${alert.kind} alert #${alert.seq} (opens in a new tab)`,
          text: `${alert.kind} alert #${alert.seq}`,
        }),
      ])),
      rawJson(group),
    ),
  );
}

// Built when first opened: thousands of cards each holding their JSON text would cost more than
// the alerts themselves.
function rawJson(group) {
  const raw = h("pre", { class: "raw" });
  const details = h("details", {
    ontoggle: () => {
      if (details.open && !raw.textContent) raw.textContent = JSON.stringify(group, null, 2);
    },
  }, h("summary", { text: "Show the signed JSON" }), raw);
  return details;
}
