// Models page: the repository as the gateway serves it: every version, its state and why it is
// not ready, the platform and the execution provider that actually runs it.
import { api, errorText, h } from "./core.js";

// The share of unversioned requests a version gets: the canary its weight, the default the rest.
function share(meta, version) {
  if (!meta || !meta.routing) return "–";
  const canary = meta.routing.canary;
  const percent = (value) => `${Math.round(value * 1000) / 10} %`;
  if (canary && String(canary.version) === version) return `canary, ${percent(canary.share)}`;
  const serving = meta.parameters && meta.parameters.version === version;
  if (serving) return canary ? `default, ${percent(1 - canary.share)}` : "default, 100 %";
  return "pinned requests only";
}

// One heading per column: the share column had none, so every heading from Platform on sat over
// the column before its own (the platform under "Provider", the provider under "Problem"). On a
// phone the table is a list with no heading row: each cell names its column itself.
const COLUMNS = ["Model", "Version", "State", "Share of requests", "Platform", "Provider", "Problem"];

function cells(...contents) {
  return contents.map(([attributes, ...children], index) => h("td", { ...attributes, "data-label": COLUMNS[index] }, ...children));
}

export function mount(view) {
  const body = h("tbody");
  const message = h("p", { role: "status", class: "muted" });
  view.append(
    h("h1", { text: "Models" }),
    message,
    h("table", {},
      h("thead", {}, h("tr", {}, COLUMNS.map((text) => h("th", { text })))),
      body),
  );

  async function refresh() {
    let index;
    try {
      index = await api("/v2/repository/index");
    } catch (error) {
      message.textContent = errorText(error);
      message.className = "error";
      return;
    }
    const names = [...new Set(index.map((entry) => entry.name))];
    const metadata = new Map(await Promise.all(names.map(async (name) => {
      try {
        return [name, await api(`/v2/models/${encodeURIComponent(name)}`)];
      } catch {
        return [name, null];
      }
    })));
    message.textContent = `${index.length} versions of ${names.length} models.`;
    message.className = "muted";
    body.replaceChildren(...index.map((entry) => {
      const meta = metadata.get(entry.name);
      const serving = meta && meta.parameters && meta.parameters.version === entry.version;
      const ready = entry.state === "READY";
      return h("tr", { "data-model": `${entry.name}:${entry.version}` }, cells(
        [{ text: entry.name }],
        [{ text: entry.version }],
        [{}, h("span", { class: `pill ${ready ? "ok" : entry.state === "LOADING" ? "warn" : "bad"}`, text: entry.state.toLowerCase() })],
        [{ text: share(meta, entry.version) }],
        [{ text: meta ? meta.platform : "–" }],
        [{ text: serving && meta.parameters ? meta.parameters.provider : ready ? "ready" : "–" }],
        [{ class: entry.reason ? "error" : "", text: entry.reason || "none" }],
      ));
    }));
  }

  return { refresh };
}
