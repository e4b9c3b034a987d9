// Models page: the repository as the gateway serves it: every version, its state and why it is
// not ready, the platform and the execution provider that actually runs it.
import { api, asReadLine, counted, errorText, h } from "./core.js";

// The share of unversioned requests a version gets: the canary its weight, the default the rest.
// The default is the routing's, else the version serving them now, else the highest that has not
// failed (the one the first of them loads): a model no camera uses, loaded on its first request,
// showed "pinned requests only" for its only version.
function share(meta, version, unfailed) {
  if (!meta.routing) return "–";
  const canary = meta.routing.canary;
  const percent = (value) => `${Math.round(value * 1000) / 10} %`;
  if (canary && String(canary.version) === version) return `canary, ${percent(canary.share)}`;
  const highest = unfailed.length ? String(Math.max(...unfailed.map(Number))) : null;
  const routed = meta.routing.default_version;
  const serving = routed !== null && routed !== undefined ? String(routed) : meta.parameters?.version ?? highest;
  if (serving === version) return canary ? `default, ${percent(1 - canary.share)}` : "default, 100 %";
  return "pinned requests only";
}

// One heading per column: the share column had none, so every heading from Platform on sat over
// the column before its own (the platform under "Provider", the provider under "Problem"). On a
// phone the table is a list with no heading row: each cell names its column itself.
const COLUMNS = ["Model", "Version", "State", "Share of requests", "Platform", "Provider", "Problem"];

function cells(...contents) {
  return contents.map(([attributes, ...children], index) => h("td", { ...attributes, "data-label": COLUMNS[index] }, ...children));
}

function versionKey(entry) {
  return `${entry.name}:${entry.version}`;
}

// The model's metadata names the provider of the version unversioned requests go to alone: every
// other ready version (a canary, one only pinned requests reach) showed "ready" where its provider
// belongs, so a canary fallen back to the CPU went unseen. Each ready version's own metadata names
// its provider. The index says UNAVAILABLE, as Triton's does, both for a version that failed and
// for one not loaded yet (no camera uses it: it loads on its first request), which showed red, a
// problem; a version's own metadata tells them apart. One request per version per refresh, none
// for a model with no version (version 0).
async function readVersions(index) {
  const read = index.filter((entry) => ["READY", "UNAVAILABLE"].includes(entry.state) && entry.version !== "0");
  return new Map(await Promise.all(read.map(async (entry) => {
    const path = `/v2/models/${encodeURIComponent(entry.name)}/versions/${encodeURIComponent(entry.version)}`;
    try {
      const { parameters, state } = await api(path);
      return [versionKey(entry), { provider: parameters ? parameters.provider : "–", state }];
    } catch (error) {
      return [versionKey(entry), { error: errorText(error) }];
    }
  })));
}

const UNLOADED = "unloaded";

export function mount(view) {
  const body = h("tbody");
  const message = h("p", { role: "status", class: "muted" });
  const asRead = asReadLine("the models' states now are unknown");
  view.append(
    h("h1", { text: "Models" }),
    message,
    asRead.element,
    h("table", {},
      h("thead", {}, h("tr", {}, COLUMNS.map((text) => h("th", { text })))),
      body),
  );
  // The last index read, its models' metadata and when: while refreshes fail it stays shown, said
  // to be that old, with no state in colour (green "ready" pills under the error read as models
  // ready now).
  let last = null;

  function say(text, style) {
    message.textContent = text;
    message.className = style;
  }

  async function refresh() {
    let index;
    try {
      index = await api("/v2/repository/index");
    } catch (error) {
      say(errorText(error), "error");
      if (last) {
        asRead.show(last.readAt);
        draw(last, false);
      }
      return;
    }
    const readAt = Date.now() / 1000;
    const names = [...new Set(index.map((entry) => entry.name))];
    // A model whose metadata could not be read showed "–" for its share and platform, as if it had
    // none: they are unknown, and the line says why (as for a version whose provider was not read).
    const readMetadata = Promise.all(names.map(async (name) => {
      try {
        return [name, { meta: await api(`/v2/models/${encodeURIComponent(name)}`) }];
      } catch (error) {
        return [name, { error: errorText(error) }];
      }
    }));
    const [read, versions] = await Promise.all([readMetadata, readVersions(index)]);
    const metadata = new Map(read);
    const unread = names.filter((name) => metadata.get(name).error !== undefined);
    // A version not ready whose metadata was not read is shown as the index says: nothing is unknown.
    const unreadVersions = index.filter((entry) => entry.state === "READY" && versions.get(versionKey(entry))?.error !== undefined);
    say(
      [
        `${counted(index.length, "version")} of ${counted(names.length, "model")}.`,
        ...unread.map((name) => `The metadata of ${name} could not be read (${metadata.get(name).error}): its share of requests and platform are unknown.`),
        ...unreadVersions.map((entry) => `The metadata of ${entry.name} version ${entry.version} could not be read (${versions.get(versionKey(entry)).error}): its provider is unknown.`),
      ].join(" "),
      unread.length || unreadVersions.length ? "error" : "muted",
    );
    last = { index, metadata, versions, readAt };
    asRead.hide();
    draw(last, true);
  }

  // current: whether the index is the latest refresh's; an older one's pills show no state's colour.
  function draw({ index, metadata, versions }, current) {
    const stateOf = (entry) => versions.get(versionKey(entry))?.state;
    body.replaceChildren(...index.map((entry) => {
      const { meta } = metadata.get(entry.name);
      const ready = entry.state === "READY";
      const unloaded = entry.state === "UNAVAILABLE" && stateOf(entry) === UNLOADED;
      const colour = !current || unloaded ? "" : ready ? "ok" : entry.state === "LOADING" ? "warn" : "bad";
      const own = versions.get(versionKey(entry));
      const provider = !ready || !own ? "–" : own.error !== undefined ? "unknown" : own.provider;
      // Versions of this model that may serve: ready, loading, or not loaded yet.
      const unfailed = index
        .filter((other) => other.name === entry.name && (other.state !== "UNAVAILABLE" || stateOf(other) === UNLOADED))
        .map((other) => other.version);
      const problem = unloaded ? `none: ${entry.reason || "not loaded yet"}` : entry.reason || "none";
      return h("tr", { "data-model": versionKey(entry) }, cells(
        [{ text: entry.name }],
        [{ text: entry.version }],
        [{}, h("span", { class: `pill ${colour}`.trim(), text: unloaded ? "not loaded" : entry.state.toLowerCase() })],
        [{ text: meta ? share(meta, entry.version, unfailed) : "unknown" }],
        [{ text: meta ? meta.platform : "unknown" }],
        [{ text: provider }],
        // A model.yaml's problems, one to a line as the gateway joins them.
        [{ class: `problem${entry.reason && !unloaded ? " error" : ""}`, text: problem }],
      ));
    }));
  }

  return { refresh };
}
