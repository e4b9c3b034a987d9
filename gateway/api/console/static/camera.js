// Camera page: the live view with the zone, line and motion mask editor over it, and the camera's
// numbers.
// Saving sends the geometry to the gateway, which validates it, writes the config file and
// applies it at once; the live view then draws what the gateway itself runs. A save sends back the
// version the editor loaded, so one over a change saved meanwhile (another tab) is refused, not
// undoing it; unsaved edits outlive the page (a login after an expired session shows it again) and
// the document (a reload shows them again).
import { api, errorText, h, s } from "./core.js";
import { cameraFacts, liveNote, playSized } from "./cameras.js";
import { Editor } from "./editor.js";
import { ruleList } from "./rule_list.js";
import { shapeList } from "./shape_list.js";

// Camera id -> { geometry, version } of edits not saved yet: `geometry` reads the editor when asked,
// as copying every shape on each pointer move of a drag cost as much as drawing them.
const unsaved = new Map();

// They are kept in the tab's session storage when the document goes (a reload, back or forward past
// the console, a tab restored) and taken up by the next one: they lived in the document alone, and a
// reload dropped them without a word.
const KEPT = "edge-gateway.unsaved-geometry";

function wellFormed(geometry) {
  const point = (p) => Array.isArray(p) && p.length === 2 && p.every((value) => typeof value === "number");
  // Edits kept by a console from before the mask could be edited have none: the mask loaded stays.
  const mask = geometry && (geometry.mask === undefined
    || (Array.isArray(geometry.mask) && geometry.mask.every((outline) => Array.isArray(outline) && outline.every(point))));
  return geometry && mask && Array.isArray(geometry.zones) && Array.isArray(geometry.lines)
    && geometry.zones.every((zone) => zone && typeof zone.name === "string" && Array.isArray(zone.polygon) && zone.polygon.every(point))
    && geometry.lines.every((line) => line && typeof line.name === "string" && Array.isArray(line.points)
      && line.points.length === 2 && line.points.every(point) && point(line.in_direction));
}

function takeUpKept() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEPT) || "[]");
    for (const [id, { geometry, version }] of Array.isArray(kept) ? kept : []) {
      if (typeof id === "string" && wellFormed(geometry)) unsaved.set(id, { geometry: () => geometry, version });
    }
  } catch {
    // no storage (a private window may have none) or not ours to read: nothing was kept
  }
}

function keep() {
  try {
    if (!unsaved.size) {
      sessionStorage.removeItem(KEPT);
      return;
    }
    const entries = [...unsaved].map(([id, kept]) => [id, { geometry: kept.geometry(), version: kept.version }]);
    sessionStorage.setItem(KEPT, JSON.stringify(entries));
  } catch {
    // no storage, or full: the edits live as long as this document, as they did
  }
}

takeUpKept();
addEventListener("pagehide", keep);

export function mount(view, id) {
  if (!id) {
    location.hash = "#/cameras";
    return {};
  }
  const base = `/v1/cameras/${encodeURIComponent(id)}`;
  const image = h("img", { alt: `Live view of camera ${id} with its zones, lines and motion mask` });
  const svg = s("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none" });
  const live = liveNote(image);
  // Where the motion gate saw change, outlined on the picture: what min_area and the mask are tuned
  // against (a tree in the wind shows up here, to be masked).
  const motionButton = h("button", { type: "button", text: "Show motion", "aria-pressed": "false" });
  const motionNote = h("p", { class: "muted", hidden: true });
  const motionShown = () => motionButton.getAttribute("aria-pressed") === "true";
  // The view is asked for at the size the stage shows it, as the tiles' are (a stage 900 pixels wide
  // took 1280-pixel frames), and again once a new size settles: played once the stage is on the page.
  let player = null;
  function play() {
    player?.stop();
    player = playSized(image, id, live.refused, motionShown());
  }
  motionButton.addEventListener("click", () => {
    motionButton.setAttribute("aria-pressed", String(!motionShown()));
    play();
    showMotionNote();
  });
  // The editor is the element the keyboard focuses, so that one is named and says how its keys work:
  // the name was on the picture's drawing, which takes no focus, and the focused frame was announced
  // by the note it held ("Waiting for the first picture…") or by nothing at all.
  const stage = h("div", { class: "stage", tabindex: "0", role: "application", "aria-label": "Geometry editor", "aria-describedby": "editor-keys" }, image, live.note, svg);
  const banner = h("p", { class: "banner", hidden: true });
  const status = h("p", { role: "status", "aria-live": "polite" });
  const list = h("div");
  const rulesShown = h("div");
  const numbers = h("div");
  const name = h("input", { id: "shape-name", type: "text", disabled: true, autocomplete: "off" });
  // Every tool starts disabled, the drawing ones too, until the geometry's answer says whether the
  // camera can be edited: Draw zone was enabled at once, and a press before that answer did nothing
  // (the editor draws only once it knows), or drew points the answer then wiped.
  const buttons = {
    zone: h("button", { type: "button", text: "Draw zone", "aria-pressed": "false", disabled: true }),
    line: h("button", { type: "button", text: "Draw line", "aria-pressed": "false", disabled: true }),
    mask: h("button", { type: "button", text: "Draw mask", "aria-pressed": "false", disabled: true }),
    finish: h("button", { type: "button", text: "Finish zone", disabled: true }),
    flip: h("button", { type: "button", text: "Flip in arrow", disabled: true }),
    remove: h("button", { type: "button", text: "Delete", disabled: true }),
    save: h("button", { type: "button", class: "primary", text: "Save", disabled: true }),
    revert: h("button", { type: "button", text: "Revert", disabled: true }),
  };
  let dirty = false;
  let rules = [];
  let version = null;
  let editableState = null; // the editable and read_only_reason the editor loaded, as text
  let saving = false;
  let editedWhileSaving = false; // edits made while a save was on its way, not in what it sends
  let gone = false; // the camera is not in the config in force any more

  const editor = new Editor(svg, (listChanged, edited) => {
    dirty = dirty || (edited && editor.editable);
    if (saving && edited) editedWhileSaving = true;
    if (dirty) unsaved.set(id, { geometry: () => editor.geometry(), version });
    update(listChanged);
  });

  // A control the keyboard pressed that its own press disables (Save, Delete, Finish zone, Revert)
  // hands the focus to the editor, where the editing goes on: it fell to the page's body, and the
  // next Tab started again from the top of the page.
  function disable(control, disabled) {
    if (disabled && !control.disabled && document.activeElement === control) stage.focus();
    control.disabled = disabled;
  }

  function update(listChanged = true) {
    const shape = editor.shape();
    buttons.zone.setAttribute("aria-pressed", String(editor.mode === "zone"));
    buttons.line.setAttribute("aria-pressed", String(editor.mode === "line"));
    buttons.mask.setAttribute("aria-pressed", String(editor.mode === "mask"));
    for (const key of ["zone", "line", "mask"]) disable(buttons[key], !editor.editable);
    buttons.finish.textContent = editor.mode === "mask" ? "Finish mask" : "Finish zone";
    disable(buttons.finish, !(editor.outlining() && editor.draft.length >= 3));
    disable(buttons.flip, !(shape && editor.selected.kind === "line" && editor.editable));
    disable(buttons.remove, !(shape && editor.editable));
    // Save waits for the answer to the save on its way: an edit made meanwhile enabled it again, and
    // a second press sent a second save of the version the first was replacing.
    disable(buttons.save, saving || !(dirty && editor.editable));
    disable(buttons.revert, !dirty);
    disable(name, !(shape && editor.editable && editor.selected.kind !== "mask"));
    // A mask outline has no name: the field stays empty (it read "undefined").
    if (document.activeElement !== name) name.value = shape && shape.name !== undefined ? shape.name : "";
    if (listChanged) {
      // The list is made anew, and the button that had the focus goes with it: a shape chosen by
      // keyboard left the focus on the page's body. The same shape's new button takes it instead,
      // where the old one was (scrolled to, the picture moved away under a drag begun meanwhile).
      const focused = list.contains(document.activeElement) ? document.activeElement.dataset.shape : undefined;
      list.replaceChildren(shapeList(editor));
      if (focused !== undefined) list.querySelector(`[data-shape="${focused}"]`)?.focus({ preventScroll: true });
    }
    if (editor.draftFull()) status.textContent = `This ${editor.mode === "mask" ? "mask outline" : "zone"} has ${editor.maxCorners} corners, the most one may have: double-click, Enter or Finish ${editor.mode} to close it, or Backspace to take the last one back.`;
    else if (editor.mode === "zone") status.textContent = "Click the picture to add corners (or arrow keys and Space); double-click, Enter or Finish zone to close.";
    else if (editor.mode === "line") status.textContent = "Click the line's two ends (or arrow keys and Space).";
    else if (editor.mode === "mask") status.textContent = `Outline where change is never motion (a tree, a flag, a clock): click to add corners (or arrow keys and Space); double-click, Enter or Finish mask to close.${gatingNote()}`;
    else if (shape && editor.selected.kind === "mask") status.textContent = `Change inside motion mask ${editor.selected.index + 1} is never motion; the model and the rules still see the whole picture.${gatingNote()}`;
    else if (shape) status.textContent = usedBy(editor.selected.kind, shape.name);
    showMotionNote();
  }

  function showMotionNote() {
    motionNote.hidden = !motionShown();
    motionNote.textContent = editor.gating
      ? "Outlined in magenta: what changed in the last frame the motion gate compared. There is motion when that covers min_area of the frame (Motion, under Camera); a part that changes and does not matter (a tree, a clock) is for the mask."
      : "Motion gating is off for this camera (motion: enabled: false): every frame goes to the model, and nothing is outlined.";
  }

  function gatingNote() {
    return editor.gating ? "" : " Motion gating is off for this camera (motion: enabled: false): the mask does nothing until it is on.";
  }

  function usedBy(kind, shapeName) {
    const names = (rule) => [...rule.zones, ...(rule.exclude_zones || [])];
    const users = rules.filter((rule) => (kind === "zone" ? names(rule).includes(shapeName) : rule.line === shapeName));
    return users.length ? `Rules using ${kind} ${shapeName}: ${users.map((rule) => rule.name).join(", ")}.` : "";
  }

  async function loadGeometry(fetched) {
    try {
      const geometry = fetched || await api(`${base}/geometry`);
      gone = false;
      editableState = JSON.stringify([geometry.editable, geometry.read_only_reason]);
      const kept = unsaved.get(id);
      const keptGeometry = kept && kept.geometry();
      rules = geometry.rules;
      rulesShown.replaceChildren(ruleList(id, rules));
      version = geometry.version;
      editor.load(geometry);
      dirty = false;
      unsaved.delete(id);
      // What the status said of the edits now dropped (a refused save, say) is no longer so.
      status.textContent = "";
      if (kept && geometry.editable) {
        // Edits made before this page was shown again stay, against the version they were made on.
        version = kept.version;
        editor.load({ ...geometry, ...keptGeometry });
        editor.baseline(geometry.mask);
        dirty = true;
        unsaved.set(id, { geometry: () => editor.geometry(), version });
      }
      update();
      if (kept && dirty) status.textContent = "Your unsaved changes are kept: Save writes them, Revert drops them.";
      banner.className = "banner";
      banner.hidden = geometry.editable;
      banner.textContent = geometry.editable ? "" : `Read-only: ${geometry.read_only_reason}`;
    } catch (error) {
      if (error.status === 404) {
        cameraGone();
        return;
      }
      banner.hidden = false;
      banner.className = "banner bad";
      banner.textContent = `Geometry unavailable: ${errorText(error)}`;
    }
  }

  // A reload (SIGHUP, a save from another tab) may change the zones and lines under the editor: it
  // kept showing the ones it loaded, over a live view that drew the new ones. Without edits of its
  // own the editor takes the new ones; with edits, it says a save would be refused and why.
  async function followReload() {
    if (saving) return;
    let geometry;
    try {
      geometry = await api(`${base}/geometry`);
    } catch (error) {
      if (error.status === 404) cameraGone();
      return;
    }
    const state = JSON.stringify([geometry.editable, geometry.read_only_reason]);
    if (saving || (!gone && geometry.version === version && state === editableState)) return;
    const busy = editor.mode !== "select" || editor.drag !== null || document.activeElement === name;
    if (gone || (!dirty && !busy)) {
      const reloaded = !gone;
      await loadGeometry(geometry);
      if (reloaded) status.textContent = "The zones, lines or motion mask changed (the config file was reloaded, or saved elsewhere): shown as they are now.";
    } else if (geometry.version !== version) {
      banner.hidden = false;
      banner.className = "banner bad";
      banner.textContent = "The zones, lines or motion mask were changed elsewhere (a config reload, or another tab) since this editor loaded them: Save will be refused; Revert loads them.";
    }
  }

  // A reload renamed or removed the camera: nothing here can be saved, and the page says so once.
  function cameraGone() {
    if (gone) return;
    gone = true;
    editor.editable = false;
    editor.setMode("select");
    update();
    banner.hidden = false;
    banner.className = "banner bad";
    banner.replaceChildren(
      `Camera ${id} is not in the gateway's config any more (renamed or removed by a reload): nothing here can be saved. `,
      h("a", { href: "#/cameras", text: "All cameras" }));
  }

  async function save() {
    disable(buttons.save, true);
    status.textContent = "Saving…";
    saving = true;
    editedWhileSaving = false;
    let outcome;
    try {
      const body = version ? { ...editor.geometry(), version } : editor.geometry();
      // An unchanged mask stays as the file writes it, comments and all.
      if (!editor.maskEdited()) delete body.mask;
      const saved = await api(`${base}/geometry`, { method: "PUT", body });
      rules = saved.rules;
      rulesShown.replaceChildren(ruleList(id, rules));
      version = saved.version;
      editor.baseline(saved.mask);
      if (editedWhileSaving) {
        // The edits made while the save was on its way stay, to be saved over the version it made:
        // the shapes it answered replaced them on screen without a word.
        unsaved.set(id, { geometry: () => editor.geometry(), version });
        outcome = "Saved to the config file and applied; the changes made since are not saved yet.";
      } else {
        editor.load(saved);
        dirty = false;
        unsaved.delete(id);
        outcome = "Saved to the config file and applied.";
      }
    } catch (error) {
      outcome = `Not saved: ${errorText(error)}`;
    } finally {
      saving = false;
    }
    update();
    status.textContent = outcome;
  }

  buttons.zone.addEventListener("click", () => editor.setMode(editor.mode === "zone" ? "select" : "zone"));
  buttons.line.addEventListener("click", () => editor.setMode(editor.mode === "line" ? "select" : "line"));
  buttons.mask.addEventListener("click", () => editor.setMode(editor.mode === "mask" ? "select" : "mask"));
  buttons.finish.addEventListener("click", () => editor.finishZone());
  buttons.flip.addEventListener("click", () => editor.flip());
  buttons.remove.addEventListener("click", () => editor.remove());
  buttons.save.addEventListener("click", save);
  buttons.revert.addEventListener("click", () => {
    unsaved.delete(id);
    loadGeometry();
  });
  name.addEventListener("input", () => editor.rename(name.value.trim()));
  name.addEventListener("change", () => update());
  stage.addEventListener("keydown", (event) => {
    if (editor.key(event)) event.preventDefault();
  });
  // The stage takes the camera's own shape from its picture, at each frame: a camera may change its
  // resolution (the picture, a portrait one, say, was stretched into the first frame's shape till the
  // page reloaded).
  function fitStage() {
    if (!image.naturalWidth || !image.naturalHeight) return;
    const ratio = `${image.naturalWidth} / ${image.naturalHeight}`;
    if (stage.style.aspectRatio !== ratio) stage.style.aspectRatio = ratio;
  }
  image.addEventListener("load", fitStage);

  view.append(
    h("p", {}, h("a", { href: "#/cameras", text: "← All cameras" })),
    h("h1", { text: `Camera ${id}` }),
    h("div", { class: "camera-layout" },
      h("div", {}, banner, stage, status),
      h("div", { class: "tools" },
        h("h2", { text: "Zones, lines and motion mask" }),
        h("div", { class: "row" }, buttons.zone, buttons.line, buttons.mask, buttons.finish),
        list,
        h("label", { for: "shape-name", text: "Name of the selected shape" }),
        name,
        h("div", { class: "row" }, buttons.flip, buttons.remove),
        h("div", { class: "row" }, buttons.save, buttons.revert),
        // After the editor's tools: Tab goes from the picture to Draw zone, and back.
        h("div", { class: "row" }, motionButton),
        motionNote,
        h("p", { id: "editor-keys", class: "muted", text: "Keyboard: select a shape in the list (arrow keys go through it), focus the picture, then arrow keys move it, Delete removes it. Drawing, focus the picture: arrow keys move the cursor, Space adds a point, Backspace takes it back, Enter closes a zone or a mask outline." }),
        h("h2", { text: "Rules" }),
        rulesShown,
        h("h2", { text: "Camera" }),
        numbers,
      ),
    ),
  );
  play();
  const loaded = loadGeometry().then(() => update());
  // The last numbers read: while refreshes fail, the note over the picture is drawn from them with
  // the camera's state unknown (it went on saying "the camera is reconnecting" as of the last read).
  let lastCamera = null;

  return {
    async refresh() {
      fitStage();
      const following = loaded.then(followReload);
      try {
        const camera = await api(base);
        lastCamera = camera;
        live.update(camera);
        numbers.replaceChildren(cameraFacts(camera));
      } catch (error) {
        numbers.replaceChildren(h("p", { class: "error", text: errorText(error) }));
        if (lastCamera) live.update(lastCamera, false);
      }
      await following;
    },
    dispose() {
      player.stop();
    },
  };
}
