// The geometry editor: zones (polygons) and counting lines (with their "in" arrow) drawn over the
// live picture in normalised coordinates (0..1, x right, y down), as the config file holds them.
// Pointer: click to add points, drag a shape or a corner to move it. Keyboard: the shape list
// selects, arrow keys move the selection (Shift: faster), Delete removes it, Escape cancels.
import { h, s } from "./core.js";

const ARROW = 0.08;
const STEP = 0.01;
const SAME_CORNER = 0.002;

const clamp = (value) => Math.min(1, Math.max(0, value));
// Edited coordinates keep 4 decimals (a tenth of a pixel at 4K), rounded where they are made, so the
// shapes checked and shown are the ones saved, and the shapes not edited keep the config's values.
const round = (value) => Math.round(value * 10000) / 10000;

// A line's unit normal on the side `toward` points to (the left-hand normal when it points along
// the line): "in" stays across the line as its ends move, on the side it was.
function across([[ax, ay], [bx, by]], [towardX, towardY]) {
  const length = Math.hypot(bx - ax, by - ay);
  if (length === 0) return [round(towardX), round(towardY)];
  const normal = [round(-(by - ay) / length), round((bx - ax) / length)];
  return normal[0] * towardX + normal[1] * towardY < 0 ? [-normal[0], -normal[1]] : normal;
}

export class Editor {
  constructor(svg, onChange) {
    this.svg = svg;
    this.onChange = onChange;
    this.zones = [];
    this.lines = [];
    this.selected = null; // {kind: "zone" | "line", index}
    this.mode = "select"; // or "zone", "line"
    this.draft = [];
    this.editable = false;
    this.drag = null;
    svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    svg.addEventListener("pointermove", (event) => this.pointerMove(event));
    svg.addEventListener("pointerup", () => this.pointerUp());
    svg.addEventListener("dblclick", () => this.finishZone());
  }

  load(geometry) {
    this.zones = geometry.zones.map((zone) => ({ name: zone.name, polygon: zone.polygon.map((p) => [...p]) }));
    this.lines = geometry.lines.map((line) => ({
      name: line.name,
      points: line.points.map((p) => [...p]),
      in_direction: [...line.in_direction],
    }));
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
    };
  }

  shape(selection = this.selected) {
    if (!selection) return null;
    return selection.kind === "zone" ? this.zones[selection.index] : this.lines[selection.index];
  }

  setMode(mode) {
    this.mode = this.editable ? mode : "select";
    this.draft = [];
    this.svg.classList.toggle("drawing", this.mode !== "select");
    this.changed();
  }

  select(kind, index) {
    this.selected = index === null ? null : { kind, index };
    this.changed();
  }

  uniqueName(prefix, taken) {
    for (let number = 1; ; number += 1) {
      if (!taken.some((item) => item.name === `${prefix}-${number}`)) return `${prefix}-${number}`;
    }
  }

  rename(name) {
    const shape = this.shape();
    if (shape && this.editable) {
      shape.name = name;
      this.changed(false);
    }
  }

  remove() {
    if (!this.selected || !this.editable) return;
    const list = this.selected.kind === "zone" ? this.zones : this.lines;
    list.splice(this.selected.index, 1);
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
    const points = this.selected.kind === "zone" ? shape.polygon : shape.points;
    // The whole shape moves only as far as its outermost point can.
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const moveX = Math.min(Math.max(dx, -Math.min(...xs)), 1 - Math.max(...xs));
    const moveY = Math.min(Math.max(dy, -Math.min(...ys)), 1 - Math.max(...ys));
    for (const p of points) {
      p[0] = clamp(round(p[0] + moveX));
      p[1] = clamp(round(p[1] + moveY));
    }
    this.changed();
  }

  finishZone() {
    if (this.mode !== "zone" || this.draft.length < 3) return false;
    const name = this.uniqueName("zone", this.zones);
    this.zones.push({ name, polygon: this.draft });
    this.draft = [];
    this.mode = "select";
    this.svg.classList.remove("drawing");
    this.selected = { kind: "zone", index: this.zones.length - 1 };
    this.changed();
    return true;
  }

  cancel() {
    this.draft = [];
    this.setMode("select");
  }

  key(event) {
    if (event.key === "Escape") return this.cancel(), true;
    if (event.key === "Enter" && this.mode === "zone") return this.finishZone(), true;
    if (!this.selected) return false;
    if (event.key === "Delete" || event.key === "Backspace") return this.remove(), true;
    const step = event.shiftKey ? STEP * 5 : STEP;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
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
    if (this.mode === "zone") {
      // A press on the corner just added (the second press of a double-click) adds none.
      const last = this.draft[this.draft.length - 1];
      if (last && Math.hypot(point[0] - last[0], point[1] - last[1]) < SAME_CORNER) return;
      this.draft.push(point);
      this.changed(false);
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
        this.changed(false);
      }
      return;
    }
    const target = event.target.dataset;
    if (target.kind === undefined) {
      this.select(null, null);
      return;
    }
    const index = Number(target.index);
    this.selected = { kind: target.kind, index };
    this.drag = { last: point, vertex: target.vertex === undefined ? null : Number(target.vertex) };
    this.svg.setPointerCapture(event.pointerId);
    this.changed();
  }

  pointerMove(event) {
    if (!this.drag || !this.selected) return;
    const point = this.at(event);
    const shape = this.shape();
    if (this.drag.vertex !== null) {
      const points = this.selected.kind === "zone" ? shape.polygon : shape.points;
      points[this.drag.vertex] = point;
      if (this.selected.kind === "line") shape.in_direction = across(points, shape.in_direction);
      this.changed(false);
    } else {
      this.move(point[0] - this.drag.last[0], point[1] - this.drag.last[1]);
    }
    this.drag.last = point;
  }

  pointerUp() {
    if (this.drag) {
      this.drag = null;
      this.changed();
    }
  }

  changed(listChanged = true) {
    this.draw();
    this.onChange(listChanged);
  }

  draw() {
    const items = [];
    const selected = (kind, index) => this.selected && this.selected.kind === kind && this.selected.index === index;
    this.zones.forEach((zone, index) => {
      const chosen = selected("zone", index);
      items.push(s("polygon", {
        class: `shape zone${chosen ? " selected" : ""}`,
        points: zone.polygon.map((p) => p.join(",")).join(" "),
        "data-kind": "zone",
        "data-index": index,
      }, s("title", { text: `zone ${zone.name}` })));
      if (chosen && this.editable) items.push(...this.handles("zone", index, zone.polygon));
    });
    this.lines.forEach((line, index) => {
      const chosen = selected("line", index);
      const [[ax, ay], [bx, by]] = line.points;
      items.push(s("line", {
        class: `shape line${chosen ? " selected" : ""}`,
        x1: ax, y1: ay, x2: bx, y2: by,
        "data-kind": "line",
        "data-index": index,
      }, s("title", { text: `line ${line.name}` })));
      items.push(arrow(line));
      if (chosen && this.editable) items.push(...this.handles("line", index, line.points));
    });
    if (this.draft.length) {
      items.push(s("polyline", { class: "draft", points: this.draft.map((p) => p.join(",")).join(" ") }));
    }
    this.svg.replaceChildren(...items);
  }

  handles(kind, index, points) {
    const box = this.svg.getBoundingClientRect();
    // Round handles on a stretched 0..1 canvas: radii in each axis from the drawn size.
    const rx = 7 / Math.max(box.width, 1);
    const ry = 7 / Math.max(box.height, 1);
    return points.map((p, vertex) => s("ellipse", {
      class: "handle", cx: p[0], cy: p[1], rx, ry,
      "data-kind": kind, "data-index": index, "data-vertex": vertex,
    }));
  }
}

function arrow(line) {
  const [[ax, ay], [bx, by]] = line.points;
  const [dx, dy] = line.in_direction;
  const norm = Math.hypot(dx, dy) || 1;
  const mx = (ax + bx) / 2;
  const my = (ay + by) / 2;
  const tx = mx + (dx / norm) * ARROW;
  const ty = my + (dy / norm) * ARROW;
  const ux = (dx / norm) * ARROW * 0.35;
  const uy = (dy / norm) * ARROW * 0.35;
  const head = `${tx - ux - uy},${ty - uy + ux} ${tx},${ty} ${tx - ux + uy},${ty - uy - ux}`;
  return s("g", { class: "arrow" }, s("line", { x1: mx, y1: my, x2: tx, y2: ty }), s("polyline", { points: head }));
}

export function shapeList(editor) {
  const entries = [
    ...editor.zones.map((zone, index) => ["zone", index, `Zone ${zone.name}`]),
    ...editor.lines.map((line, index) => ["line", index, `Line ${line.name}`]),
  ];
  if (!entries.length) return h("p", { class: "muted", text: "No zones or lines yet." });
  return h("ul", { class: "shape-list" }, entries.map(([kind, index, label]) => {
    const chosen = editor.selected && editor.selected.kind === kind && editor.selected.index === index;
    return h("li", {}, h("button", {
      type: "button",
      "aria-pressed": chosen ? "true" : "false",
      text: label,
      onclick: () => editor.select(kind, chosen ? null : index),
    }));
  }));
}
