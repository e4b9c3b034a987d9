// Cameras page: one tile per camera with its live view and its numbers; a failed camera is framed
// in red and greyed out, so it shows at a glance.
import { api, clock, errorText, facts, fixed, h } from "./core.js";

export function streamUrl(id) {
  return `/v1/cameras/${encodeURIComponent(id)}/stream.mjpeg`;
}

export function drops(camera) {
  const entries = Object.entries(camera.drops || {}).filter(([, count]) => count > 0);
  return entries.length ? entries.map(([reason, count]) => `${reason} ${count}`).join(", ") : "none";
}

export function stateBadge(state) {
  return h("span", { class: `pill state-${state}`, text: state });
}

// A live view that has shown no picture (a camera down, or one that never streamed) says so over
// its dark frame rather than staying blank; the note goes with the first frame.
export function liveNote(image) {
  const note = h("p", { class: "live-note", text: "Waiting for the first picture…" });
  image.addEventListener("load", () => {
    note.hidden = true;
  });
  return {
    note,
    update(camera) {
      note.hidden = image.naturalWidth > 0;
      note.textContent = camera.state === "streaming"
        ? "Waiting for the first picture…"
        : `No picture: the camera is ${camera.state}`;
    },
  };
}

export function cameraFacts(camera) {
  return facts([
    ["State", stateBadge(camera.state)],
    ["fps in / processed", `${fixed(camera.fps_in)} / ${fixed(camera.fps_processed)}`],
    ["Dropped", drops(camera)],
    ["Reconnects", String(camera.reconnects)],
    ["Last error", camera.last_error || "none", { class: camera.last_error ? "error" : "" }],
    ["Last frame", clock(camera.last_frame_at)],
  ]);
}

export function mount(view) {
  const grid = h("div", { class: "grid", "aria-live": "off" });
  const message = h("p", { class: "muted", role: "status" });
  view.append(h("h1", { text: "Cameras" }), message, grid);
  const tiles = new Map();

  async function refresh() {
    let answer;
    try {
      answer = await api("/v1/cameras");
      message.textContent = answer.cameras.length ? "" : "This gateway has no cameras configured.";
      message.className = "muted";
    } catch (error) {
      message.textContent = errorText(error);
      message.className = "error";
      return;
    }
    for (const camera of answer.cameras) {
      let tile = tiles.get(camera.id);
      if (!tile) {
        tile = {
          root: h("article", { class: "card tile", "data-camera": camera.id }),
          image: h("img", { class: "live", src: streamUrl(camera.id), alt: `Live view of camera ${camera.id}` }),
          numbers: h("div"),
        };
        tile.live = liveNote(tile.image);
        tile.root.append(
          h("h2", {}, h("a", { href: `#/camera/${encodeURIComponent(camera.id)}`, text: camera.id })),
          h("div", { class: "live-frame" }, tile.image, tile.live.note),
          tile.numbers,
        );
        grid.append(tile.root);
        tiles.set(camera.id, tile);
      }
      tile.root.classList.toggle("failed", camera.state === "failed" || camera.state === "stopped");
      tile.live.update(camera);
      tile.numbers.replaceChildren(cameraFacts(camera));
    }
  }

  return {
    refresh,
    dispose() {
      // An <img> taken out of the page may keep its stream open; an empty source ends it.
      for (const tile of tiles.values()) tile.image.removeAttribute("src");
    },
  };
}
