// Cameras page: one tile per camera with its live view and its numbers; a failed camera is framed
// in red and greyed out, so it shows at a glance.
//
// The tiles are the cameras of the latest answer: a camera a reload removed kept its tile for as
// long as the page was open, its live view asking for a camera that was gone. While refreshes fail,
// the tiles stay, said to be as last read and when, with no state in colour: under the error line,
// a green "streaming" or a red frame read as the camera's state now.
//
// A browser opens at most six connections to one host, and a live view holds one for as long as it
// shows: with twelve live tiles, six stayed black and the page's own requests (its refresh, the
// other pages) waited behind the streams for good. So the tiles are live only while the cameras
// are few enough to leave connections free; beyond that each tile shows a snapshot, renewed with
// the page's refresh while the tile is on screen (the camera page keeps its live view).
import { api, asReadLine, clock, errorText, facts, fixed, h, placeAfter } from "./core.js";
import { playLive } from "./live.js";

export const LIVE_TILES = 4;
// A snapshot on its way for this long is asked for again (a new address ends the old request): one
// request that stalled (a network that dropped it without a word) kept its tile from ever being
// renewed, its picture frozen, while the page went on refreshing.
const SNAPSHOT_STALL_MS = 10000;

// The largest picture a tile asks for: the live view's largest (a 4K camera's whole picture was 300
// to 820 KiB, every 2 s a tile).
const TILE_LONGEST_SIDE = 1280;
// Sizes asked for go up in steps of this many pixels: a window resized by a pixel asks for the
// picture it had.
const TILE_SIZE_STEP = 80;
// A live picture whose box has kept a new size this long asks for its view again, when the picture
// it has would now be shown enlarged, or at under half its size: a window made larger left its tiles
// blurred for as long as the page was open; one dragged wider is not asked again at every step.
const RESIZE_SETTLE_MS = 500;

// The most tiles to a row for so many cameras: all of up to three side by side, more in a square as
// near as can be (four in two rows of two, nine in three of three). The grid's own rule alone (as
// many 320-pixel columns as fit) put four to a row of a 1920-pixel screen whatever the cameras: one
// camera had a 302-pixel tile beside three empty columns.
export function columnsFor(cameras) {
  return cameras <= 3 ? Math.max(cameras, 1) : Math.ceil(Math.sqrt(cameras));
}

// The picture's box on screen in device pixels, its longest side: a 1280 picture in a tile 300
// pixels wide (four to a row of a 1920-pixel screen) had its marks (boxes, labels) a quarter of the
// size the gateway draws them for, and took 57 to 82 KiB where 320 pixels take 9 to 11.
function pictureSide(image) {
  const side = Math.max(image.clientWidth, image.clientHeight) * (window.devicePixelRatio || 1);
  if (!side) return TILE_LONGEST_SIDE;
  return Math.min(TILE_LONGEST_SIDE, Math.ceil(side / TILE_SIZE_STEP) * TILE_SIZE_STEP);
}

// `motion`: the view with where the motion gate saw change outlined; `side`: the longest side asked
// for (the gateway draws the next of its few sizes up; none, its largest).
function streamUrl(id, motion = false, side = null) {
  const query = [motion ? "motion=1" : "", side ? `longest_side=${side}` : ""].filter(Boolean).join("&");
  return `/v1/cameras/${encodeURIComponent(id)}/stream.mjpeg${query ? `?${query}` : ""}`;
}

// Plays camera `id`'s live view (with motion outlined, or not) into `image` at the size the picture
// shows it, and asks for it again once a new size settles (RESIZE_SETTLE_MS) at which the picture
// would be shown enlarged, or at under half its size. The tiles' and the camera page's stage.
export function playSized(image, id, onRefused, motion = false) {
  let side = pictureSide(image);
  let player = playLive(image, streamUrl(id, motion, side), onRefused);
  let settling = null;
  const resizer = new ResizeObserver(() => {
    clearTimeout(settling);
    settling = setTimeout(() => {
      const now = pictureSide(image);
      if (now <= side && now * 2 >= side) return;
      player.stop();
      side = now;
      player = playLive(image, streamUrl(id, motion, side), onRefused);
    }, RESIZE_SETTLE_MS);
  });
  resizer.observe(image);
  return {
    stop() {
      resizer.disconnect();
      clearTimeout(settling);
      player.stop();
    },
  };
}

function snapshotUrl(id, image) {
  // A new address each time: the picture is renewed, never taken from the browser's cache.
  const side = pictureSide(image);
  return `/v1/cameras/${encodeURIComponent(id)}/snapshot.jpg?longest_side=${side}&at=${Date.now()}`;
}

export function drops(camera) {
  const entries = Object.entries(camera.drops || {}).filter(([, count]) => count > 0);
  return entries.length ? entries.map(([reason, count]) => `${reason} ${count}`).join(", ") : "none";
}

// current: whether the state is the latest refresh's; an older one is no state in colour.
export function stateBadge(state, current = true) {
  return h("span", { class: current ? `pill state-${state}` : "pill", text: state });
}

// A live view that has shown no picture (a camera down, or one that never streamed) says so over
// its dark frame rather than staying blank; the note goes with the first frame. A camera that goes
// down while watched leaves its last frame on screen, still served at the view's rate: that picture
// says it is the last one, and of when, until the camera streams again (it looked live, frozen).
// A view the gateway refused (too many viewers, say) shows its reason instead, till it is served.
// Numbers that are not the latest refresh's (refreshes failing) leave the camera's state unknown:
// "the camera is failed" over its last picture read as its state now, while it was the state then.
export function liveNote(image) {
  const note = h("p", { class: "live-note", text: "Waiting for the first picture…" });
  let streaming = true; // till the first numbers say otherwise
  let camera = null; // the last numbers
  let current = true; // whether they are the latest refresh's
  let refused = null; // why the gateway refused the view, while it does
  let still = false; // a snapshot, renewed by the refreshes that succeed, rather than a live view
  // A snapshot is not renewed while refreshes fail: of a streaming camera it is then a picture of
  // when it was taken, which read as the camera's picture now with no word over it.
  const stale = () => !streaming || (still && !current);
  image.addEventListener("load", () => {
    image.classList.remove("blank");
    if (!stale() && refused === null) note.hidden = true;
  });
  image.addEventListener("error", () => image.classList.add("blank"));

  function draw() {
    const pictured = image.naturalWidth > 0;
    note.hidden = pictured && !stale() && refused === null;
    note.classList.toggle("stale", pictured && (stale() || refused !== null));
    if (refused !== null) note.textContent = `No live view: ${refused}`;
    else if (!stale()) note.textContent = "Waiting for the first picture…";
    else {
      const state = current ? `: the camera is ${camera.state}` : "; the camera's state now is unknown";
      note.textContent = pictured ? `Last picture ${clock(camera.last_frame_at)}${state}` : `No picture${state}`;
    }
  }

  return {
    note,
    update(numbers, latest = true) {
      camera = numbers;
      current = latest;
      streaming = numbers.state === "streaming";
      draw();
    },
    refused(reason) {
      refused = reason;
      draw();
    },
    snapshot(isSnapshot) {
      still = isSnapshot;
      draw();
    },
  };
}

// How much of the newest frame changed against motion gating's threshold: what to read when
// tuning min_area or a mask (a scene always over it is never gated; one never near it, too strict).
export function motion(camera) {
  const gating = camera.motion;
  if (!gating) return "gating off";
  const percent = (share) => `${fixed(share * 100, 2)}%`;
  const changed = typeof gating.changed === "number" ? `${percent(gating.changed)} changed` : "no frame compared yet";
  return `${changed}, motion from ${percent(gating.min_area)}`;
}

export function cameraFacts(camera, current = true) {
  return facts([
    ["State", stateBadge(camera.state, current)],
    ["fps in / processed", `${fixed(camera.fps_in)} / ${fixed(camera.fps_processed)}`],
    ["Motion", motion(camera)],
    ["Dropped", drops(camera)],
    ["Reconnects", String(camera.reconnects)],
    ["Last error", camera.last_error || "none", { class: camera.last_error ? "error" : "" }],
    ["Last frame", clock(camera.last_frame_at)],
  ]);
}

export function mount(view) {
  const grid = h("div", { class: "grid camera-grid", "aria-live": "off" });
  const message = h("p", { class: "muted", role: "status" });
  const asRead = asReadLine("the cameras' states now are unknown");
  view.append(h("h1", { text: "Cameras" }), message, asRead.element, grid);
  let readAt = null; // when the tiles' numbers were read
  const tiles = new Map();
  // Tiles on screen, whose snapshots are renewed; the others keep their last picture.
  const onScreen = new Set();
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const tile = entry.target.tile;
      if (entry.isIntersecting) {
        onScreen.add(tile);
        if (!tile.live && !tile.image.hasAttribute("src")) renew(tile);
      } else {
        onScreen.delete(tile);
      }
    }
  });

  function renew(tile) {
    // One request a tile at a time: a slow snapshot is not asked for again while it is on its way.
    if (tile.loading && performance.now() - tile.askedAt < SNAPSHOT_STALL_MS) return;
    tile.loading = true;
    tile.askedAt = performance.now();
    tile.image.src = snapshotUrl(tile.id, tile.image);
  }

  function show(tile, live) {
    if (tile.live === live) return;
    tile.live = live;
    tile.loading = false;
    tile.player?.stop();
    // A live tile's view too is asked for at the size the tile shows it.
    tile.player = live ? playSized(tile.image, tile.id, tile.note.refused) : null;
    tile.note.snapshot(!live);
    if (live) return;
    tile.note.refused(null); // a snapshot is not refused for want of a place among the viewers
    if (onScreen.has(tile)) renew(tile);
    else tile.image.removeAttribute("src");
  }

  function draw(tile, camera, current) {
    tile.camera = camera;
    tile.note.update(camera, current);
    tile.root.classList.toggle("failed", current && (camera.state === "failed" || camera.state === "stopped"));
    tile.numbers.replaceChildren(cameraFacts(camera, current));
  }

  function drop(tile) {
    tile.player?.stop();
    watcher.unobserve(tile.root);
    onScreen.delete(tile);
    // An <img> taken out of the page may keep its snapshot loading; an empty source ends it.
    tile.image.removeAttribute("src");
    tile.root.remove();
    tiles.delete(tile.id);
  }

  async function refresh() {
    let answer;
    try {
      answer = await api("/v1/cameras");
      message.textContent = answer.cameras.length ? "" : "This gateway has no cameras configured.";
      message.className = "muted";
    } catch (error) {
      message.textContent = errorText(error);
      message.className = "error";
      if (tiles.size) {
        asRead.show(readAt);
        for (const tile of tiles.values()) draw(tile, tile.camera, false);
      }
      return;
    }
    readAt = Date.now() / 1000;
    asRead.hide();
    const listed = new Set(answer.cameras.map((camera) => camera.id));
    for (const tile of [...tiles.values()]) {
      if (!listed.has(tile.id)) drop(tile);
    }
    const live = answer.cameras.length <= LIVE_TILES;
    grid.style.setProperty("--columns", String(columnsFor(answer.cameras.length)));
    let previous = null; // the tile of the camera before, in the answer's order
    for (const camera of answer.cameras) {
      let tile = tiles.get(camera.id);
      const fresh = !tile;
      if (fresh) {
        tile = {
          id: camera.id,
          root: h("article", { class: "card tile", "data-camera": camera.id }),
          image: h("img", { class: "live", alt: `Live view of camera ${camera.id}` }),
          numbers: h("div"),
          camera,
          live: null,
          player: null,
          loading: false,
          askedAt: 0,
        };
        const done = () => {
          tile.loading = false;
        };
        tile.image.addEventListener("load", done);
        tile.image.addEventListener("error", done);
        tile.note = liveNote(tile.image);
        tile.root.append(
          h("h2", {}, h("a", { href: `#/camera/${encodeURIComponent(camera.id)}`, text: camera.id })),
          h("div", { class: "live-frame" }, tile.image, tile.note.note),
          tile.numbers,
        );
        tile.root.tile = tile;
        tiles.set(camera.id, tile);
      }
      // A reload may reorder the cameras: a tile out of the answer's order is moved, not rebuilt, so
      // its live view or snapshot goes on. Moved in place where the browser can, it keeps its focus.
      placeAfter(grid, tile.root, previous && previous.root);
      if (fresh) watcher.observe(tile.root);
      previous = tile;
      show(tile, live);
      if (!live && onScreen.has(tile)) renew(tile);
      draw(tile, camera, true);
    }
  }

  return {
    refresh,
    dispose() {
      for (const tile of [...tiles.values()]) drop(tile);
      watcher.disconnect();
    },
  };
}
