// System page: health problems, alert delivery (broker state, committed vs acknowledged seq,
// outbox size), device id, uptime and version; refreshed live.
import { api, clock, duration, errorText, facts, h } from "./core.js";

export function mount(view) {
  const content = h("div", { class: "grid" });
  const message = h("p", { role: "status" });
  view.append(h("h1", { text: "System" }), message, content);

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
      // A server run without the camera pipeline is run so on purpose: that is no failure.
      if (error.status === 404) say("This server runs without the camera pipeline.", "muted");
      else say(errorText(error), "error");
      return;
    }
    const delivery = status.delivery;
    const outbox = status.outbox || {};
    const acked = delivery.last_acked_seq;
    content.replaceChildren(
      h("section", { class: "card", "aria-labelledby": "health-title" },
        h("h2", { id: "health-title", text: "Health" }),
        h("p", {}, h("span", { class: `pill ${status.healthy ? "ok" : "bad"}`, text: status.healthy ? "healthy" : "unhealthy" })),
        status.problems.length
          ? h("ul", { class: "error" }, status.problems.map((problem) => h("li", { text: problem })))
          : h("p", { class: "muted", text: "No problems." }),
        h("p", { class: "muted", text: status.summary })),
      h("section", { class: "card", "aria-labelledby": "delivery-title" },
        h("h2", { id: "delivery-title", text: "Alert delivery" }),
        facts([
          ["Broker", delivery.broker || "none (outbox only)"],
          ["State", h("span", { class: `pill ${delivery.state === "connected" ? "ok" : delivery.state === "outbox-only" ? "" : "bad"}`, text: delivery.state })],
          ["Committed up to seq", String(delivery.last_seq)],
          ["Acknowledged up to seq", acked === null ? "–" : String(acked)],
          ["Awaiting the broker", delivery.broker ? String(Math.max(0, delivery.last_seq - (acked || 0))) : "–"],
          ["In flight", String(delivery.inflight)],
          ["Outbox holds", outbox.stored === undefined ? "–" : `${outbox.stored} alerts (${outbox.pending} not yet acknowledged)`],
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
