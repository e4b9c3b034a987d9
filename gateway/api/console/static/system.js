// System page: health problems, alert delivery (broker state, committed vs acknowledged seq,
// outbox size), device id, uptime and version; refreshed live.
import { api, asReadLine, clock, counted, duration, errorText, facts, h } from "./core.js";

// Without a broker nothing is ever acknowledged: "(13 not yet acknowledged)" read as a delivery
// falling behind on a gateway that delivers nowhere on purpose.
function held(outbox, broker) {
  // null: the outbox could not be read (the problems say why).
  if (outbox.stored === undefined || outbox.stored === null) return "–";
  const alerts = counted(outbox.stored, "alert");
  return broker ? `${alerts} (${outbox.pending} not yet acknowledged)` : alerts;
}

export function mount(view) {
  const content = h("div", { class: "grid" });
  const message = h("p", { role: "status" });
  const asRead = asReadLine("the gateway's state now is unknown");
  view.append(h("h1", { text: "System" }), message, asRead.element, content);
  // The last status read and when: while refreshes fail it stays shown, said to be that old, with
  // no verdict of its own (a green "healthy" under the error read as the gateway's state now).
  let last = null;

  // The line is styled by what the latest refresh found alone: emptied after an error it kept the
  // error style, so the next text put there without a style of its own showed as an error.
  function say(text, style) {
    message.textContent = text;
    message.className = style;
  }

  async function refresh() {
    let status;
    try {
      status = await api("/v1/status");
      say("", "");
    } catch (error) {
      // A server run without the camera pipeline is run so on purpose: that is no failure, and it
      // has no state to show, old or new.
      if (error.status === 404) {
        say("This server runs without the camera pipeline.", "muted");
        last = null;
        asRead.hide();
        content.replaceChildren();
      } else {
        say(errorText(error), "error");
        if (last) {
          asRead.show(last.readAt);
          draw(last.status, false);
        }
      }
      return;
    }
    last = { status, readAt: Date.now() / 1000 };
    asRead.hide();
    draw(status, true);
  }

  // current: whether the status is the latest refresh's; an older one's pills say no state in
  // colour, and its health verdict is unknown.
  function draw(status, current) {
    const delivery = status.delivery;
    const outbox = status.outbox || {};
    const acked = delivery.last_acked_seq;
    content.replaceChildren(
      h("section", { class: "card", "aria-labelledby": "health-title" },
        h("h2", { id: "health-title", text: "Health" }),
        h("p", {}, current
          ? h("span", { class: `pill ${status.healthy ? "ok" : "bad"}`, text: status.healthy ? "healthy" : "unhealthy" })
          : h("span", { class: "pill", text: "unknown" })),
        status.problems.length
          ? h("ul", { class: "error" }, status.problems.map((problem) => h("li", { text: problem })))
          : h("p", { class: "muted", text: "No problems." }),
        h("p", { class: "muted", text: status.summary })),
      h("section", { class: "card", "aria-labelledby": "delivery-title" },
        h("h2", { id: "delivery-title", text: "Alert delivery" }),
        facts([
          ["Broker", delivery.broker || "none (outbox only)"],
          ["State", h("span", { class: `pill ${!current || delivery.state === "outbox-only" ? "" : delivery.state === "connected" ? "ok" : "bad"}`, text: delivery.state })],
          ["Committed up to seq", String(delivery.last_seq)],
          ["Acknowledged up to seq", acked === null ? "–" : String(acked)],
          ["Awaiting the broker", delivery.broker ? String(Math.max(0, delivery.last_seq - (acked || 0))) : "–"],
          ["In flight", String(delivery.inflight)],
          ["Outbox holds", held(outbox, delivery.broker)],
          ["Connected since", delivery.connected_since ? clock(delivery.connected_since) : "–"],
          ["Last error", delivery.last_error || "none", { class: delivery.last_error ? "error" : "" }],
        ])),
      h("section", { class: "card", "aria-labelledby": "device-title" },
        h("h2", { id: "device-title", text: "Device" }),
        facts([
          ["Device id", status.device_id || "–"],
          ["Version", status.version || "–"],
          ["Uptime", duration(status.uptime_s)],
          ["Started", status.started_at ? clock(status.started_at) : "–"],
        ])),
    );
  }

  return { refresh };
}
