// The geometry editor: zones (polygons), counting lines (with their "in" arrow) and the motion mask's
// outlines drawn over the live picture in normalised coordinates (0..1, x right, y down), as the
// config file holds them. Masks have no names: the config's list holds bare outlines.
// Pointer: click to add points, drag a shape or a corner to move it. Keyboard: the shape list
// selects, arrow keys move the selection (Shift: faster), Delete removes it, Escape cancels; while
// drawing, arrow keys move a cursor, Space adds a point there, Backspace takes the last one back
// (Enter closes a zone or a mask outline).
// A move redraws only the shape it moves, in a layer of its own (a camera may have 256 zones of 100
// corners: redrawn and repainted with them all, a move took 43 ms of script and a frame of 88 ms
// where 4 zones took 6 and 17); anything else redraws the whole picture.
import { s } from "./core.js";

// The in arrow's length, a share of the picture's smaller side, as the live picture draws it
// (gateway/ingest/snapshot.py, ARROW_LENGTH): the picture writes the line's name just past its tip.
const ARROW = 0.08;
const STEP = 0.01;
const SAME_CORNER = 0.002;

const clamp = (value) => Math.min(1, Math.max(0, value));
// Edited coordinates keep 4 decimals (a tenth of a pixel at 4K), rounded where they are made, so the
// shapes checked and shown are the ones saved, and the shapes not edited keep the config's values.
const round = (value) => Math.round(value * 10000) / 10000;
const pointsText = (points) => points.map((p) => p.join(",")).join(" ");
// Handles are round on screen, 7 px in radius, on a canvas stretched to 0..1 in each axis.
const HANDLE_PX = 7;

// A line's unit normal on the side `toward` points to (the left-hand normal when it points along
// the line): "in" stays across the line as its ends move, on the side it was.
function across([[ax, ay], [bx, by]], [towardX, towardY]) {
  const length = Math.hypot(bx - ax, by - ay);
  if (length === 0) return [round(towardX), round(towardY)];
  const normal = [round(-(by - ay) / length), round((bx - ax) / length)];
  return normal[0] * towardX + normal[1] * towardY < 0 ? [-normal[0], -normal[1]] : normal;
}

export class Editor {
  // `svg` is in its place over the picture: the front layer goes just after it.
  constructor(svg, onChange) {
    this.svg = svg;
    // The selected shape, its handles and the draft lie in a second layer over the others, which the
    // browser composites apart: a drag repaints that layer only, whatever else is drawn.
    this.front = s("svg", { class: "front", viewBox: "0 0 1 1", preserveAspectRatio: "none" });
    svg.after(this.front);
    this.onChange = onChange;
    this.zones = [];
    this.lines = [];
    this.masks = []; // {polygon}, unnamed
    this.savedOutlines = new Set(); // the file's mask outlines, as JSON
    this.gating = true; // whether the camera gates on motion, which the mask is part of
    this.maxCorners = Infinity; // the most corners an outline may have, as the geometry's answer says
    this.selected = null; // {kind: "zone" | "line" | "mask", index}
    this.mode = "select"; // or "zone", "line", "mask"
    this.draft = [];
    this.cursor = [0.5, 0.5]; // where Space adds a point while drawing by keyboard
    this.editable = false;
    this.drag = null;
    // What draw() made, so a move can change just the moved shape: per kind, per index, its element
    // (and a line's arrow); the handles of the selected shape, one per corner.
    this.drawn = { zone: [], line: [], mask: [] };
    this.handleElements = [];
    // The handles' radii are set from the drawn size: a resize (window, phone turned) sets them again.
    // The arrows are drawn in the picture's pixels: a picture of another shape draws them again.
    this.drawnAspect = this.aspect();
    new ResizeObserver(() => {
      if (Math.abs(this.aspect() - this.drawnAspect) > 0.01 * this.drawnAspect) this.draw();
      else this.sizeHandles();
    }).observe(svg);
    for (const layer of [svg, this.front]) {
      layer.addEventListener("pointerdown", (event) => this.pointerDown(event));
      layer.addEventListener("pointermove", (event) => this.pointerMove(event));
      layer.addEventListener("pointerup", () => this.pointerUp());
      // A pointer the browser takes back (a touch turned into a gesture, a pen's contact lost) gets no
      // pointerup: the drag ends here, or the hovering pen went on moving the shape.
      layer.addEventListener("pointercancel", () => this.pointerUp());
      layer.addEventListener("dblclick", () => this.finishZone());
    }
  }

  load(geometry) {
    this.zones = geometry.zones.map((zone) => ({ name: zone.name, polygon: zone.polygon.map((p) => [...p]) }));
    this.lines = geometry.lines.map((line) => ({
      name: line.name,
      points: line.points.map((p) => [...p]),
      in_direction: [...line.in_direction],
    }));
    this.masks = (geometry.mask || []).map((outline) => ({ polygon: outline.map((p) => [...p]) }));
    this.baseline(geometry.mask);
    this.gating = geometry.motion_gating !== false;
    // The gateway's limit on a zone's or a mask outline's corners: drawn past it, the outline was
    // lost to a save that refused it.
    this.maxCorners = geometry.max_polygon_points ?? Infinity;
    this.editable = geometry.editable;
    this.selected = null;
    this.setMode("select");
  }

  geometry() {
    const point = (p) => [p[0], p[1]];
    return {
      zones: this.zones.map((zone) => ({ name: zone.name, polygon: zone.polygon.map(point) })),
      lines: this.lines.map((line) => ({
        name: line.name,
        points: line.points.map(point),
        in_direction: [...line.in_direction],
      })),
      mask: this.masks.map((mask) => mask.polygon.map(point)),
    };
  }

  // The mask the file holds now (loaded, or saved), which edits are told from.
  baseline(mask) {
    this.loadedMask = JSON.stringify(mask || []);
    this.savedOutlines = new Set((mask || []).map((outline) => JSON.stringify(outline)));
  }

  // Whether a mask outline is one the file holds, which the live picture shades.
  isSaved(outline) {
    return this.savedOutlines.has(JSON.stringify(outline));
  }

  // Whether the mask differs from the one loaded: a save leaves an unchanged mask as the file writes it.
  maskEdited() {
    return JSON.stringify(this.masks.map((mask) => mask.polygon)) !== this.loadedMask;
  }

  list(kind) {
    return { zone: this.zones, line: this.lines, mask: this.masks }[kind];
  }

  shape(selection = this.selected) {
    if (!selection) return null;
    return this.list(selection.kind)[selection.index];
  }

  // A shape's corners: a line's two ends, a zone's or a mask's outline.
  static points(kind, shape) {
    return kind === "line" ? shape.points : shape.polygon;
  }

  setMode(mode) {
    this.mode = this.editable ? mode : "select";
    this.draft = [];
    this.svg.classList.toggle("drawing", this.mode !== "select");
    this.changed(true, false);
  }

  select(kind, index) {
    this.selected = index === null ? null : { kind, index };
    this.changed(true, false);
  }

  uniqueName(prefix, taken) {
    for (let number = 1; ; number += 1) {
      if (!taken.some((item) => item.name === `${prefix}-${number}`)) return `${prefix}-${number}`;
    }
  }

  rename(name) {
    const shape = this.shape();
    if (shape && this.editable && this.selected.kind !== "mask") {
      shape.name = name;
      const drawn = this.drawn[this.selected.kind][this.selected.index];
      if (drawn) drawn.shape.firstChild.textContent = `${this.selected.kind} ${name}`;
      // The list shows the name as it is typed: renamed only when the field lost focus, a name
      // wrapping onto more lines moved the buttons below it (Save) between the press and the
      // release of the click that took the focus away, and that click was lost.
      this.onChange(true, true);
    }
  }

  remove() {
    if (!this.selected || !this.editable) return;
    this.list(this.selected.kind).splice(this.selected.index, 1);
    this.selected = null;
    this.changed();
  }

  flip() {
    const shape = this.shape();
    if (shape && this.selected.kind === "line" && this.editable) {
      shape.in_direction = [-shape.in_direction[0], -shape.in_direction[1]];
      this.changed();
    }
  }

  move(dx, dy) {
    const shape = this.shape();
    if (!shape || !this.editable) return;
    const points = Editor.points(this.selected.kind, shape);
    // The whole shape moves only as far as its outermost point can.
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const moveX = Math.min(Math.max(dx, -Math.min(...xs)), 1 - Math.max(...xs));
    const moveY = Math.min(Math.max(dy, -Math.min(...ys)), 1 - Math.max(...ys));
    for (const p of points) {
      p[0] = clamp(round(p[0] + moveX));
      p[1] = clamp(round(p[1] + moveY));
    }
    this.moved(null);
  }

  // Closes the zone or mask outline being drawn.
  finishZone() {
    if (!this.outlining() || this.draft.length < 3) return false;
    const kind = this.mode;
    if (kind === "zone") this.zones.push({ name: this.uniqueName("zone", this.zones), polygon: this.draft });
    else this.masks.push({ polygon: this.draft });
    this.draft = [];
    this.mode = "select";
    this.svg.classList.remove("drawing");
    this.selected = { kind, index: this.list(kind).length - 1 };
    this.changed();
    return true;
  }

  // Drawing an outline: a zone or a mask's.
  outlining() {
    return this.mode === "zone" || this.mode === "mask";
  }

  // The outline being drawn has as many corners as one may have: no more are added.
  draftFull() {
    return this.outlining() && this.draft.length >= this.maxCorners;
  }

  cancel() {
    this.draft = [];
    this.setMode("select");
  }

  key(event) {
    if (event.key === "Escape") return this.cancel(), true;
    if (event.key === "Enter" && this.outlining()) return this.finishZone(), true;
    const step = event.shiftKey ? STEP * 5 : STEP;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (this.mode !== "select") {
      // Drawing without a pointer: the cursor goes where a click would, Space clicks there.
      if (event.key === " ") return this.addPoint([...this.cursor]), true;
      // Backspace and Delete take back the last point placed: they deleted the shape chosen before
      // the drawing began, while the draft they were meant for stayed as it was.
      if (event.key === "Backspace" || event.key === "Delete") {
        this.draft.pop();
        this.changed(false, false);
        return true;
      }
      if (moves[event.key]) {
        const [dx, dy] = moves[event.key];
        this.cursor = [clamp(round(this.cursor[0] + dx)), clamp(round(this.cursor[1] + dy))];
        this.changed(false, false);
        return true;
      }
    }
    if (!this.selected) return false;
    if (event.key === "Delete" || event.key === "Backspace") return this.remove(), true;
    if (moves[event.key]) return this.move(...moves[event.key]), true;
    return false;
  }

  at(event) {
    const box = this.svg.getBoundingClientRect();
    return [round(clamp((event.clientX - box.left) / box.width)), round(clamp((event.clientY - box.top) / box.height))];
  }

  pointerDown(event) {
    if (!this.editable) return;
    const point = this.at(event);
    if (this.mode !== "select") {
      this.addPoint(point);
      return;
    }
    const target = event.target.dataset;
    if (target.kind === undefined) {
      this.select(null, null);
      return;
    }
    const index = Number(target.index);
    this.selected = { kind: target.kind, index };
    this.drag = { last: point, vertex: target.vertex === undefined ? null : Number(target.vertex), moved: false };
    this.svg.setPointerCapture(event.pointerId);
    this.changed(true, false);
  }

  // A point of the zone or line being drawn, clicked or placed by keyboard.
  addPoint(point) {
    if (this.outlining()) {
      // A press on the corner just added (the second press of a double-click) adds none.
      const last = this.draft[this.draft.length - 1];
      if (last && Math.hypot(point[0] - last[0], point[1] - last[1]) < SAME_CORNER) return;
      if (this.draftFull()) return;
      this.draft.push(point);
      this.changed(false, false);
      return;
    }
    if (this.mode === "line") {
      this.draft.push(point);
      if (this.draft.length === 2) {
        const [[ax, ay], [bx, by]] = this.draft;
        if (Math.hypot(bx - ax, by - ay) < 0.01) {
          this.draft.pop();
          return;
        }
        // "in" starts perpendicular to the line; Flip turns it round.
        const name = this.uniqueName("line", this.lines);
        this.lines.push({ name, points: this.draft, in_direction: across(this.draft, [-(by - ay), bx - ax]) });
        this.draft = [];
        this.mode = "select";
        this.svg.classList.remove("drawing");
        this.selected = { kind: "line", index: this.lines.length - 1 };
        this.changed();
      } else {
        this.changed(false, false);
      }
    }
  }

  pointerMove(event) {
    if (!this.drag || !this.selected) return;
    const point = this.at(event);
    const shape = this.shape();
    this.drag.moved = true;
    if (this.drag.vertex !== null) {
      const points = Editor.points(this.selected.kind, shape);
      points[this.drag.vertex] = point;
      if (this.selected.kind === "line") shape.in_direction = across(points, shape.in_direction);
      this.moved(this.drag.vertex);
    } else {
      this.move(point[0] - this.drag.last[0], point[1] - this.drag.last[1]);
    }
    this.drag.last = point;
  }

  pointerUp() {
    if (this.drag) {
      const { moved } = this.drag;
      this.drag = null;
      this.changed(true, moved);
    }
  }

  // `edited`: the zones and lines changed, not only the view of them (a selection, a mode, a draft),
  // which the page would otherwise keep and offer to save as unsaved edits.
  changed(listChanged = true, edited = true) {
    this.draw();
    this.onChange(listChanged, edited);
  }

  // The selected shape's points moved (one corner, or all when `vertex` is null): its own elements
  // follow, the rest of the picture stays as drawn.
  moved(vertex) {
    const shape = this.shape();
    const drawn = this.drawn[this.selected.kind][this.selected.index];
    if (!drawn) {
      this.changed(false);
      return;
    }
    let points;
    if (this.selected.kind !== "line") {
      points = shape.polygon;
      drawn.shape.setAttribute("points", pointsText(points));
      if (this.selected.kind === "mask") drawn.shape.classList.toggle("saved", this.isSaved(points));
    } else {
      points = shape.points;
      const [[ax, ay], [bx, by]] = points;
      for (const [name, value] of Object.entries({ x1: ax, y1: ay, x2: bx, y2: by })) drawn.shape.setAttribute(name, value);
      const pointer = arrow(shape, this.drawnAspect);
      drawn.arrow.replaceWith(pointer);
      drawn.arrow = pointer;
    }
    const corners = vertex === null ? points.keys() : [vertex];
    for (const corner of corners) {
      const handle = this.handleElements[corner];
      if (!handle) continue;
      handle.setAttribute("cx", points[corner][0]);
      handle.setAttribute("cy", points[corner][1]);
    }
    this.onChange(false, true);
  }

  draw() {
    this.drawnAspect = this.aspect();
    const items = [];
    const front = [];
    this.drawn = { zone: [], line: [], mask: [] };
    const selected = (kind, index) => this.selected && this.selected.kind === kind && this.selected.index === index;
    const outline = (kind, index, polygon, title, saved = false) => {
      const element = s("polygon", {
        class: `shape ${kind}${saved ? " saved" : ""}${selected(kind, index) ? " selected" : ""}`,
        points: pointsText(polygon),
        "data-kind": kind,
        "data-index": index,
      }, s("title", { text: title }));
      this.drawn[kind].push({ shape: element });
      (selected(kind, index) ? front : items).push(element);
    };
    // Under the zones and lines, which are what a click on a spot covered by both most likely means.
    // The live picture shades the saved mask already: shaded here too, it looked darker than a new one.
    this.masks.forEach((mask, index) => outline(
      "mask", index, mask.polygon, `motion mask ${index + 1}`, this.isSaved(mask.polygon),
    ));
    this.zones.forEach((zone, index) => outline("zone", index, zone.polygon, `zone ${zone.name}`));
    this.lines.forEach((line, index) => {
      const [[ax, ay], [bx, by]] = line.points;
      const element = s("line", {
        class: `shape line${selected("line", index) ? " selected" : ""}`,
        x1: ax, y1: ay, x2: bx, y2: by,
        "data-kind": "line",
        "data-index": index,
      }, s("title", { text: `line ${line.name}` }));
      const pointer = arrow(line, this.drawnAspect);
      this.drawn.line.push({ shape: element, arrow: pointer });
      (selected("line", index) ? front : items).push(element, pointer);
    });
    // The selected shape's corners lie over every shape, so one under a later shape can still be
    // grabbed (drawn just after their own shape, a later zone covering them took the press instead).
    const shape = this.shape();
    this.handleElements = shape && this.editable
      ? this.handles(this.selected.kind, this.selected.index, Editor.points(this.selected.kind, shape))
      : [];
    front.push(...this.handleElements);
    if (this.draft.length) {
      front.push(s("polyline", { class: "draft", points: pointsText(this.draft) }));
    }
    if (this.mode !== "select") {
      // Shown only while the picture has the keyboard's focus (console.css).
      const [rx, ry] = this.handleRadii();
      front.push(s("ellipse", { class: "draw-cursor", cx: this.cursor[0], cy: this.cursor[1], rx, ry }));
    }
    this.svg.replaceChildren(...items);
    this.front.replaceChildren(...front);
  }

  handles(kind, index, points) {
    const [rx, ry] = this.handleRadii();
    return points.map((p, vertex) => s("ellipse", {
      class: "handle", cx: p[0], cy: p[1], rx, ry,
      "data-kind": kind, "data-index": index, "data-vertex": vertex,
    }));
  }

  // The drawn picture's width over its height (16:9 while it has no size yet).
  aspect() {
    const box = this.svg.getBoundingClientRect();
    return box.width > 0 && box.height > 0 ? box.width / box.height : 16 / 9;
  }

  handleRadii() {
    const box = this.svg.getBoundingClientRect();
    return [HANDLE_PX / Math.max(box.width, 1), HANDLE_PX / Math.max(box.height, 1)];
  }

  sizeHandles() {
    const circles = [...this.handleElements, ...this.front.querySelectorAll(".draw-cursor")];
    if (!circles.length) return;
    const [rx, ry] = this.handleRadii();
    for (const handle of circles) {
      handle.setAttribute("rx", rx);
      handle.setAttribute("ry", ry);
    }
  }
}

// The in arrow in the picture's own pixels, where the live picture draws its own (its direction
// and length in pixels; `aspect`: the picture's width over its height): taken in the 0-1 square, it
// was 0.08 of the picture's width long along a wide camera's width, and ran over the name the
// picture writes just past its own arrow's tip.
function arrow(line, aspect) {
  const [[ax, ay], [bx, by]] = line.points;
  const [dx, dy] = [line.in_direction[0] * aspect, line.in_direction[1]];
  const scale = (ARROW * Math.min(aspect, 1)) / (Math.hypot(dx, dy) || 1);
  const [ux, uy] = [dx * scale, dy * scale]; // the arrow, in pixels of a picture 1 high
  const mx = (ax + bx) / 2;
  const my = (ay + by) / 2;
  const at = (x, y) => `${mx + x / aspect},${my + y}`;
  const [hx, hy] = [ux * 0.35, uy * 0.35];
  const head = [at(ux - hx - hy, uy - hy + hx), at(ux, uy), at(ux - hx + hy, uy - hy - hx)].join(" ");
  return s("g", { class: "arrow" },
    s("line", { x1: mx, y1: my, x2: mx + ux / aspect, y2: my + uy }),
    s("polyline", { points: head }));
}
