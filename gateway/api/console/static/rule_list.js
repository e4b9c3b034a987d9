// A camera's rules in words, each with a link to its alerts: what the gateway looks for on the
// camera was written in the config file alone, and read back only there.
import { h } from "./core.js";

const either = (names, all) => (names.length ? names.join(", ") : all);

function where(rule) {
  const zones = rule.zones.length ? `in ${rule.zones.join(", ")}` : "anywhere";
  const excluded = rule.exclude_zones.length ? ` except ${rule.exclude_zones.join(", ")}` : "";
  return `${zones}${excluded}`;
}

// One sentence: what the rule fires on, as README's table of rule types says it.
export function ruleText(rule) {
  const labels = either(rule.labels, "any object");
  const score = `, score from ${rule.min_score}`;
  switch (rule.type) {
    case "line_crossing": {
      const direction = rule.direction === "any" ? "either way" : `going ${rule.direction}`;
      return `${labels} crossing line ${rule.line} ${direction}${score}`;
    }
    case "loiter":
      return `${labels} staying ${where(rule)} for ${rule.min_s} s${score}`;
    case "count":
      return `${rule.min_count} or more of ${labels} at once ${where(rule)}${rule.min_s ? ` for ${rule.min_s} s` : ""}${score}`;
    case "stationary":
      return `${labels} standing still ${where(rule)} for ${rule.min_s} s${score}`;
    default:
      return `${labels} ${where(rule)}${score}`;
  }
}

export function eventsOf(cameraId, rule) {
  return `#/events/${encodeURIComponent(new URLSearchParams({ camera: cameraId, rule: rule.name }).toString())}`;
}

export function ruleList(cameraId, rules) {
  if (!rules.length) return h("p", { class: "muted", text: "No rules: this camera raises no alerts of its own." });
  return h("ul", { class: "rule-list" }, rules.map((rule) => h("li", {},
    h("strong", { text: rule.name }),
    ` (${rule.type.replace("_", " ")}): ${ruleText(rule)}. `,
    h("a", { href: eventsOf(cameraId, rule), text: `Alerts of ${rule.name}` }),
  )));
}
