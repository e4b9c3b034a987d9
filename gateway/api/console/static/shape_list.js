// The editor's shapes as a list of buttons, one per zone and line: pressing one selects its shape
// (again: none), so a keyboard reaches every shape, however small or covered on the picture.
import { h } from "./core.js";

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
      "data-shape": `${kind}-${index}`,
      text: label,
      onclick: () => editor.select(kind, chosen ? null : index),
    }));
  }));
}
